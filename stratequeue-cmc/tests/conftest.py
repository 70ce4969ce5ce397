from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.data.base import DataSourceConfig
from stratequeue.granularity import parse_granularity
from stratequeue_cmc import CoinMarketCapDataSource
from stratequeue_cmc.testing import FakeCoinMarketCap

KEY = "cmc-test-5e3cr3t-k3y"
T0 = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, now: datetime) -> None:
        with self._lock:
            self.now = now


@pytest.fixture
def fake() -> Iterator[FakeCoinMarketCap]:
    with FakeCoinMarketCap(KEY) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def make_source(fake, clock):
    made: list[CoinMarketCapDataSource] = []

    def make(granularity: str = "1m", env: dict[str, str] | None = None, **options):
        opts = {"clock": clock, "rate_limit_wait_seconds": 0.05, "http_timeout_seconds": 2}
        opts.update(options)
        config = DataSourceConfig(
            granularity=parse_granularity(granularity, CoinMarketCapDataSource.granularities),
            env=fake.env if env is None else env,
            options=opts,
        )
        source = CoinMarketCapDataSource(config)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def hourly_rows(end: datetime, count: int, price: float = 60000.0):
    start = end - timedelta(hours=count)
    return [
        (start + timedelta(hours=i), price + i, price + i + 5, price + i - 5, price + i + 1, 1e6)
        for i in range(count)
    ]
