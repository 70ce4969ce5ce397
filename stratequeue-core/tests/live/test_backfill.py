from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from stratequeue.data.live import BarFilter, BarFolder, BarGrid, TransientError, backfill
from stratequeue.granularity import parse_granularity
from stratequeue.models import Bar

T0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)


def minute(t: datetime, base: float, symbol: str = "X") -> Bar:
    return Bar(symbol, t, base, base + 1, base - 1, base + 0.5, 10.0)


class Vendor:
    """A vendor's history: every minute it ever traded; records what was asked."""

    def __init__(self, minutes: list[Bar]) -> None:
        self.minutes = minutes
        self.asked: list[tuple[str, datetime, datetime]] = []
        self.fail = 0

    def __call__(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        self.asked.append((symbol, start, end))
        if self.fail:
            self.fail -= 1
            raise TransientError("HTTP 503")
        got = [b for b in self.minutes if b.symbol == symbol and start <= b.timestamp <= end]
        return list(reversed(got))  # any order: backfill sorts


def make(gran: str, symbols=("X",)) -> BarFolder:
    g = parse_granularity(gran)
    clock = BarFilter(g, clock=lambda: datetime(2999, 1, 1, tzinfo=UTC))
    return BarFolder({s: BarGrid(g) for s in symbols}, MIN, clock, sparse=True)


def test_the_gap_is_emitted_in_order_once_and_the_live_repeat_is_dropped():
    vendor = Vendor([minute(T0 + i * MIN, 100 + i) for i in range(10)])
    f = make("1m")
    live = [b for i in range(3) for b in f.add(minute(T0 + i * MIN, 100 + i))]
    # disconnected: 13:33..13:36 closed unseen; at 13:37:30 the stream is back
    gap = backfill(f, vendor, ["X"], T0 + 7 * MIN + timedelta(seconds=30))
    assert vendor.asked == [("X", T0 + 3 * MIN, T0 + 7 * MIN + timedelta(seconds=30))]
    assert [b.timestamp for b in gap] == [T0 + i * MIN for i in range(3, 7)]
    # the live stream resends what it had queued, then goes on
    again = [b for i in range(5, 9) for b in f.add(minute(T0 + i * MIN, 100 + i))]
    delivered = [b.timestamp for b in live + gap + again]
    assert delivered == [T0 + i * MIN for i in range(9)]


def test_a_folded_period_split_by_the_drop_is_completed_from_history_once():
    vendor = Vendor([minute(T0 + i * MIN, 100 + i) for i in range(12)])
    f = make("5m")
    assert [b for i in range(2) for b in f.add(minute(T0 + i * MIN, 100 + i))] == []
    gap = backfill(f, vendor, ["X"], T0 + 11 * MIN)
    assert vendor.asked[0][1] == T0  # from the open period's start
    assert [(b.timestamp, b.open, b.close, b.volume) for b in gap] == [
        (T0, 100, 104.5, 50.0),
        (T0 + 5 * MIN, 105, 109.5, 50.0),
    ]
    assert f.add(minute(T0 + 4 * MIN, 999)) == []  # a late live copy of 13:34
    assert f.add(minute(T0 + 10 * MIN, 110)) == []  # a live copy of 13:40: counted once
    assert f.add(minute(T0 + 11 * MIN, 111)) == []  # 13:41 was still trading at the backfill
    (bar,) = f.add(minute(T0 + 15 * MIN, 115))
    assert (bar.timestamp, bar.open, bar.volume) == (T0 + 10 * MIN, 110, 20.0)


def test_a_failed_history_call_postpones_the_symbol_and_the_next_backfill_resumes_there(caplog):
    vendor = Vendor([minute(T0 + i * MIN, 100 + i, s) for s in "XY" for i in range(6)])
    f = make("1m", symbols=("X", "Y"))
    f.add(minute(T0, 100, "X"))
    f.add(minute(T0, 100, "Y"))
    vendor.fail = 1
    with caplog.at_level(logging.WARNING):
        first = backfill(f, vendor, ["X", "Y"], T0 + 4 * MIN)
    assert "postponed" in caplog.text
    assert {b.symbol for b in first} == {"Y"}
    second = backfill(f, vendor, ["X", "Y"], T0 + 6 * MIN)
    assert [(b.symbol, b.timestamp) for b in second] == [
        ("X", T0 + 1 * MIN),
        ("X", T0 + 2 * MIN),
        ("X", T0 + 3 * MIN),
        ("X", T0 + 4 * MIN),
        ("Y", T0 + 4 * MIN),
        ("X", T0 + 5 * MIN),
        ("Y", T0 + 5 * MIN),
    ]


def test_unfinished_sub_bars_are_left_to_the_live_stream():
    vendor = Vendor([minute(T0 + i * MIN, 100 + i) for i in range(4)])
    f = make("1m")
    f.begin("X", T0)
    gap = backfill(f, vendor, ["X"], T0 + 3 * MIN + timedelta(seconds=10))
    assert [b.timestamp for b in gap] == [T0, T0 + MIN, T0 + 2 * MIN]  # 13:33 still trading
