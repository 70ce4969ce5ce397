"""The broker conformance kit run on the Schwab broker against the fake Schwab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stratequeue.testing.conformance import *  # noqa: F403
from stratequeue_schwab.testing.harness import SchwabHarness


@pytest.fixture
def broker_harness(harness: SchwabHarness) -> Iterator[SchwabHarness]:
    yield harness
