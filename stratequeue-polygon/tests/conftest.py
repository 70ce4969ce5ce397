from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.testing import ManualClock, SourceFactory
from stratequeue_polygon import PolygonDataSource
from stratequeue_polygon.testing import FakePolygon

KEY = "sk-test-5e3cr3t-k3y"
#: Monday 3 June 2024, 14:00 UTC (10:00 New York).
T0 = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)


Clock = ManualClock


@pytest.fixture
def fake() -> Iterator[FakePolygon]:
    with FakePolygon(KEY, page_size=50) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def make_source(fake, clock):
    make = SourceFactory(
        PolygonDataSource,
        fake.env,
        {
            "clock": clock,
            "reconnect_delay_seconds": 0.05,
            "reconnect_max_seconds": 0.2,
            "connect_timeout_seconds": 2,
            "http_timeout_seconds": 2,
            "close_grace_seconds": 5,
        },
    )
    yield make
    make.close_all()


def minute_rows(start: datetime, count: int, price: float = 100.0, step: float = 0.1):
    """``count`` one-minute rows from ``start``: a gentle upward walk."""
    rows = []
    for i in range(count):
        o = price + i * step
        c = o + step
        rows.append((start + timedelta(minutes=i), o, c + 0.05, o - 0.05, c, 10.0 + i))
    return rows
