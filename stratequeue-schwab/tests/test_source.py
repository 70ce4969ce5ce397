"""The schwab data source against the fake: warm-up bars folded exactly from minute candles,
live CHART_EQUITY minutes folded into 5-minute bars, and a dropped stream backfilled once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.models import Bar
from stratequeue.testing import ManualClock, SourceFactory, StreamRunner
from stratequeue_schwab import SchwabDataSource
from stratequeue_schwab.testing import FakeSchwab

OPEN = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 9:30 in New York


def candle(i: int) -> dict:
    at = OPEN + timedelta(minutes=i)
    return {
        "open": 100.0 + i,
        "high": 100.5 + i,
        "low": 99.5 + i,
        "close": 100.25 + i,
        "volume": 10 + i,
        "datetime": int(at.timestamp() * 1000),
    }


def five(i: int) -> Bar:
    """The 5-minute bar of minutes i..i+4."""
    return Bar(
        "AAPL",
        OPEN + timedelta(minutes=i),
        100.0 + i,
        100.5 + i + 4,
        99.5 + i,
        100.25 + i + 4,
        float(sum(10 + k for k in range(i, i + 5))),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OPEN + timedelta(minutes=20, seconds=30))


@pytest.fixture
def make(fake: FakeSchwab, tmp_path, clock) -> Iterator[SourceFactory]:
    fake.write_token_file(tmp_path / "t.json")
    defaults = {"clock": clock, "retry_backoff": 0.01, "reconnect_wait": 0.1, "timeout": 2.0}
    factory = SourceFactory(SchwabDataSource, fake.env(tmp_path / "t.json"), defaults)
    yield factory
    factory.close_all()


def test_warm_up_bars_are_folded_exactly_from_minute_candles(fake, make) -> None:
    fake.minutes["AAPL"] = [candle(i) for i in range(21)]  # 14:30 .. 14:50 (unfinished)
    assert make("5m").history("AAPL", 3) == [five(5), five(10), five(15)]


def test_live_minutes_fold_into_bars_and_a_drop_is_backfilled_once(fake, make, clock) -> None:
    fake.minutes["AAPL"] = [candle(i) for i in range(20)]
    source = make("5m")
    assert source.history("AAPL", 2) == [five(10), five(15)]
    runner = StreamRunner(source, ["AAPL"])
    try:
        _wait_subscribed(fake)
        clock.set(OPEN + timedelta(minutes=25, seconds=1))
        for i in range(20, 25):
            fake.push_chart("AAPL", candle(i))
        assert runner.take(1) == [five(20)]
        fake.drop_streams()
        fake.minutes["AAPL"] += [candle(i) for i in range(20, 30)]  # missed while down
        clock.set(OPEN + timedelta(minutes=30, seconds=1))
        assert runner.take(1) == [five(25)]
        _wait_subscribed(fake)
        for i in range(25, 30):  # the stream resends what the backfill delivered
            fake.push_chart("AAPL", candle(i))
        assert runner.quiet() == []
    finally:
        runner.stop()


def _wait_subscribed(fake: FakeSchwab) -> None:
    import time

    deadline = time.monotonic() + 5
    while not fake.chart_sockets:
        assert time.monotonic() < deadline, "the source did not subscribe to CHART_EQUITY"
        time.sleep(0.02)


def test_live_daily_bars_fold_a_new_york_day_of_minutes(fake, make, clock) -> None:
    """A live 1d bar is the New York day's minutes (midnight to midnight), delivered when the
    next day's first minute arrives."""
    runner = StreamRunner(make("1d"), ["AAPL"])
    try:
        _wait_subscribed(fake)
        clock.set(OPEN + timedelta(days=1, minutes=1, seconds=1))
        for i in range(3):
            fake.push_chart("AAPL", candle(i))
        assert runner.quiet() == []  # the day is not over until the next one starts
        next_day = candle(0) | {"datetime": int((OPEN + timedelta(days=1)).timestamp() * 1000)}
        fake.push_chart("AAPL", next_day)
        day = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # midnight in New York (EST)
        assert runner.take(1) == [Bar("AAPL", day, 100.0, 102.5, 99.5, 102.25, 33.0)]
    finally:
        runner.stop()
