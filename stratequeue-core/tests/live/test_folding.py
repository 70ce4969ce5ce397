from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from stratequeue.data.live import BarFilter, BarFolder, BarGrid, quote_bar, trade_bar
from stratequeue.granularity import Granularity, parse_granularity
from stratequeue.models import Bar

NY = ZoneInfo("America/New_York")
T0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)


def minute(symbol: str, t: datetime, base: float, volume: float = 10.0) -> Bar:
    return Bar(symbol, t, base, base + 1, base - 1, base + 0.5, volume)


def folder(gran: str, *, sparse: bool = False, zone=UTC, symbols=("X",), sub=MIN) -> BarFolder:
    g = parse_granularity(gran)
    never_future = BarFilter(g, clock=lambda: datetime(2999, 1, 1, tzinfo=UTC))
    return BarFolder({s: BarGrid(g, zone) for s in symbols}, sub, never_future, sparse=sparse)


def ohlcv(bar: Bar) -> tuple:
    return (bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume)


@pytest.mark.parametrize(
    ("gran", "count"), [("1m", 1), ("5m", 5), ("15m", 15), ("30m", 30), ("1h", 60)]
)
def test_minutes_fold_into_a_bar_when_the_periods_last_minute_arrives(gran, count):
    f = folder(gran)
    hour = T0.replace(minute=0) + timedelta(hours=1)
    out = []
    for i in range(count):
        out += f.add(minute("X", hour + i * MIN, 100 + i))
    assert [ohlcv(b) for b in out] == [(hour, 100, 100 + count, 99, 99.5 + count, 10.0 * count)]


def test_a_daily_bar_of_a_stock_runs_midnight_to_midnight_new_york_and_closes_on_the_next_day():
    f = folder("1d", sparse=True, zone=NY)
    day = datetime(2024, 6, 3, tzinfo=NY)
    assert f.add(minute("X", (day + timedelta(hours=9, minutes=30)).astimezone(UTC), 100)) == []
    assert f.add(minute("X", (day + timedelta(hours=15, minutes=59)).astimezone(UTC), 104)) == []
    (bar,) = f.add(minute("X", (day + timedelta(days=1, hours=9)).astimezone(UTC), 107))
    assert ohlcv(bar) == (datetime(2024, 6, 3, 4, tzinfo=UTC), 100, 105, 99, 104.5, 20.0)


def test_a_daily_grid_follows_daylight_saving():
    grid = BarGrid(Granularity(1, "d"), NY)
    start = grid.start(datetime(2024, 3, 10, 12, tzinfo=UTC))
    assert start == datetime(2024, 3, 10, 5, tzinfo=UTC)
    assert grid.end(start) - start == timedelta(hours=23)
    # 01:00 UTC on June 4 is still June 3 in New York
    assert grid.start(datetime(2024, 6, 4, 1, tzinfo=UTC)) == datetime(2024, 6, 3, 4, tzinfo=UTC)


def test_a_quiet_minute_leaves_the_period_open_until_a_later_one_arrives_on_a_sparse_feed():
    f = folder("5m", sparse=True)
    assert f.add(minute("X", T0, 100)) == []
    assert f.add(minute("X", T0 + 3 * MIN, 103)) == []  # 13:34 never comes
    (bar,) = f.add(minute("X", T0 + 5 * MIN, 105))
    assert ohlcv(bar) == (T0, 100, 104, 99, 103.5, 20.0)


def test_without_sparse_a_period_closes_by_the_clock():
    f = folder("5m")
    f.add(minute("X", T0, 100))
    assert f.add(minute("X", T0 + 5 * MIN, 105)) == []
    assert f.close_through(T0 + 4 * MIN) == []
    assert [b.timestamp for b in f.close_through(T0 + 5 * MIN)] == [T0]


def test_a_repeated_sub_bar_counts_once_and_a_late_one_is_ignored_and_logged(caplog):
    f = folder("5m")
    f.add(minute("X", T0, 100))
    f.add(minute("X", T0, 300))  # the same minute again (websocket and backfill): first wins
    for i in range(1, 5):
        out = f.add(minute("X", T0 + i * MIN, 100))
    assert (out[0].open, out[0].high, out[0].volume) == (100, 101, 50.0)
    with caplog.at_level(logging.INFO):
        assert f.add(minute("X", T0 + 2 * MIN, 500)) == []
    assert "late revision" in caplog.text


def test_bad_and_future_sub_bars_are_dropped_with_the_reason(caplog):
    f = folder("1m")
    with caplog.at_level(logging.WARNING):
        assert f.add(Bar("X", T0, math.nan, 1, 1, 1)) == []
        assert f.add(minute("X", T0 + MIN, 100), now=T0) == []
    assert "missing" in caplog.text and "future" in caplog.text


def test_trades_fold_into_second_bars():
    f = folder("1s", sub=timedelta(0))
    for ms, price, size in [(0, 10.0, 1), (200, 12.0, 2), (700, 9.0, 3), (1100, 11.0, 1)]:
        f.add(trade_bar("X", T0 + timedelta(milliseconds=ms), price, size))
    (bar,) = f.close_through(T0 + timedelta(seconds=1))
    assert ohlcv(bar) == (T0, 10.0, 12.0, 9.0, 9.0, 6.0)


def test_quotes_fold_at_their_mid_price_with_a_custom_volume_rule():
    g = parse_granularity("1m")
    f = BarFolder(
        {"X": BarGrid(g)},
        timedelta(0),
        BarFilter(g, clock=lambda: T0 + 5 * MIN),
        volume=lambda subs, length: float(len(subs)) * length.total_seconds(),
    )
    f.add(quote_bar("X", T0 + timedelta(seconds=5), 99.0, 101.0))
    f.add(quote_bar("X", T0 + timedelta(seconds=40), 101.0, 103.0))
    (bar,) = f.close_through(T0 + MIN)
    assert ohlcv(bar) == (T0, 100.0, 102.0, 100.0, 102.0, 120.0)


def test_begin_leaves_the_period_under_way_to_be_completed_and_older_ones_closed():
    f = folder("5m")
    f.begin("X", T0 + 2 * MIN)
    assert f.add(minute("X", T0 - MIN, 90)) == []  # before the run: never delivered
    assert f.resume_point("X", T0 + 2 * MIN) == T0


def test_folded_bars_pass_the_shared_filter_which_records_them_as_delivered():
    f = folder("1m", symbols=("X", "Y"))
    assert [b.close for b in f.add(minute("X", T0, 100))] == [100.5]
    assert [b.close for b in f.add(minute("Y", T0, 200))] == [200.5]
    assert f.filter.last == {"X": T0, "Y": T0}
    assert f.resume_point("X", T0 + 5 * MIN) == T0 + MIN
