"""The broker conformance kit run on the Coinbase broker against the fake Coinbase."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stratequeue.testing.conformance import *  # noqa: F403
from stratequeue_coinbase.testing import FakeCoinbase
from stratequeue_coinbase.testing.harness import CoinbaseHarness


@pytest.fixture
def broker_harness() -> Iterator[CoinbaseHarness]:
    with FakeCoinbase() as fake:
        harness = CoinbaseHarness(fake)
        yield harness
        harness.close()
