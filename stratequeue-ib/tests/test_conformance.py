"""The broker conformance kit run on the IB broker against the fake TWS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stratequeue.testing.conformance import *  # noqa: F403
from stratequeue_ib.testing import FakeTWS
from stratequeue_ib.testing.harness import IBHarness


@pytest.fixture
def broker_harness() -> Iterator[IBHarness]:
    with FakeTWS(accounts=("DU123456",)) as fake:
        harness = IBHarness(fake)
        yield harness
        harness.close()
