from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.data.base import DataSourceConfig
from stratequeue.granularity import parse_granularity
from stratequeue_polygon import PolygonDataSource
from stratequeue_polygon.testing import FakePolygon

KEY = "sk-test-5e3cr3t-k3y"
#: Monday 3 June 2024, 14:00 UTC (10:00 New York).
T0 = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)


class Clock:
    """A settable UTC clock shared by the source and the test."""

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
def fake() -> Iterator[FakePolygon]:
    with FakePolygon(KEY, page_size=50) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def make_source(fake: FakePolygon, clock: Clock):
    made: list[PolygonDataSource] = []

    def make(granularity: str = "1m", env: dict[str, str] | None = None, **options):
        opts = {
            "clock": clock,
            "reconnect_delay_seconds": 0.05,
            "reconnect_max_seconds": 0.2,
            "connect_timeout_seconds": 2,
            "http_timeout_seconds": 2,
            "close_grace_seconds": 5,
            **options,
        }
        config = DataSourceConfig(
            granularity=parse_granularity(granularity, PolygonDataSource.granularities),
            env=fake.env if env is None else env,
            options=opts,
        )
        source = PolygonDataSource(config)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def minute_rows(start: datetime, count: int, price: float = 100.0, step: float = 0.1):
    """``count`` one-minute rows from ``start``: a gentle upward walk."""
    rows = []
    for i in range(count):
        o = price + i * step
        c = o + step
        rows.append((start + timedelta(minutes=i), o, c + 0.05, o - 0.05, c, 10.0 + i))
    return rows
