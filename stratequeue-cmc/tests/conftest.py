from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.testing import ManualClock, SourceFactory
from stratequeue_cmc import CoinMarketCapDataSource
from stratequeue_cmc.testing import FakeCoinMarketCap

KEY = "cmc-test-5e3cr3t-k3y"
T0 = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)


Clock = ManualClock


@pytest.fixture
def fake() -> Iterator[FakeCoinMarketCap]:
    with FakeCoinMarketCap(KEY) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def make_source(fake, clock):
    make = SourceFactory(
        CoinMarketCapDataSource,
        fake.env,
        {"clock": clock, "rate_limit_wait_seconds": 0.05, "http_timeout_seconds": 2},
    )
    yield make
    make.close_all()


def hourly_rows(end: datetime, count: int, price: float = 60000.0):
    start = end - timedelta(hours=count)
    return [
        (start + timedelta(hours=i), price + i, price + i + 5, price + i - 5, price + i + 1, 1e6)
        for i in range(count)
    ]
