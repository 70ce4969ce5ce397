"""The broker conformance kit run on the Alpaca broker against the fake Alpaca."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stratequeue.testing.conformance import *  # noqa: F403
from stratequeue_alpaca.testing import FakeAlpaca
from stratequeue_alpaca.testing.harness import AlpacaHarness


@pytest.fixture
def broker_harness() -> Iterator[AlpacaHarness]:
    with FakeAlpaca() as fake:
        harness = AlpacaHarness(fake)
        yield harness
        harness.close()
