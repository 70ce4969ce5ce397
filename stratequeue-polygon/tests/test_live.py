from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import KEY, T0, minute_rows
from stratequeue_polygon.testing import agg_message
from streaming import StreamRunner


def am(start: datetime, o: float, h: float, low: float, c: float, v: float = 10.0, sym="AAPL"):
    return agg_message("AM", sym, start, o, h, low, c, v)


def minute(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


@pytest.fixture
def live(fake, make_source, clock):
    runners: list[StreamRunner] = []

    def start(granularity: str, symbols=("AAPL",), topic="AM.AAPL", **options):
        source = make_source(granularity, **options)
        runner = StreamRunner(source, list(symbols))
        runners.append(runner)
        if topic:
            fake.wait_subscribed(topic)
        return runner

    yield start
    for runner in runners:
        runner.stop()


def test_minute_bars_stream_from_am_aggregates(fake, live, clock):
    runner = live("1m")
    clock.set(minute(2))
    fake.push("stocks", [am(minute(0), 10, 11, 9, 10.5, 7), am(minute(1), 10.5, 12, 10, 11, 3)])
    bars = runner.take(2)
    assert [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (minute(0), 10, 11, 9, 10.5, 7),
        (minute(1), 10.5, 12, 10, 11, 3),
    ]
    assert bars[0].symbol == "AAPL"


@pytest.mark.parametrize(
    ("granularity", "minutes"),
    [("5m", 5), ("15m", 15), ("1h", 60)],
)
def test_minute_aggregates_build_bars_that_match_polygons_own(
    fake, live, clock, make_source, granularity, minutes
):
    rows = minute_rows(T0, minutes)
    runner = live(granularity)
    clock.set(minute(minutes))
    fake.push("stocks", [am(*row) for row in rows])
    (bar,) = runner.take(1)
    fake.add_bars("AAPL", 60, rows)
    (rest_bar,) = make_source(granularity).history("AAPL", 1)
    assert bar == rest_bar
    assert bar.timestamp == T0 and bar.volume == pytest.approx(sum(r[5] for r in rows))


def test_daily_bars_close_at_new_york_midnight(fake, live, clock):
    runner = live("1d")
    clock.set(minute(3))
    fake.push("stocks", [am(*row) for row in minute_rows(T0, 3)])
    assert runner.quiet(0.3) == []
    clock.set(datetime(2024, 6, 4, 4, 0, 6, tzinfo=UTC))  # 00:00:06 New York
    (bar,) = runner.take(1)
    assert bar.timestamp == datetime(2024, 6, 3, 4, 0, tzinfo=UTC)
    assert bar.open == 100.0 and bar.close == pytest.approx(100.3)


def test_second_bars_come_from_per_second_aggregates(fake, live, clock):
    runner = live("1s", topic="A.AAPL")
    clock.set(T0 + timedelta(seconds=3))
    fake.push(
        "stocks",
        [agg_message("A", "AAPL", T0 + timedelta(seconds=i), 10, 11, 9, 10) for i in range(3)],
    )
    assert [b.timestamp for b in runner.take(3)] == [T0 + timedelta(seconds=i) for i in range(3)]


def test_crypto_streams_from_xa_under_the_users_symbol(fake, live, clock):
    runner = live("5m", symbols=("BTC/USD",), topic="XA.BTC-USD")
    clock.set(minute(5))
    fake.push("crypto", [agg_message("XA", "BTC-USD", *row) for row in minute_rows(T0, 5, 60000)])
    (bar,) = runner.take(1)
    assert bar.symbol == "BTC/USD" and bar.timestamp == T0


def test_a_period_without_trades_emits_no_bar(fake, live, clock):
    runner = live("5m")
    clock.set(minute(20))
    rows = minute_rows(T0, 20)
    fake.push("stocks", [am(*r) for r in rows[:5] + rows[15:]])  # nothing 14:05-14:15
    bars = runner.take(2)
    assert [b.timestamp for b in bars] == [minute(0), minute(15)]
    assert runner.quiet(0.2) == []
    assert not any(math.isnan(b.close) for b in bars)


def test_a_period_whose_last_minute_is_empty_closes_on_the_clock(fake, live, clock):
    runner = live("5m", close_grace_seconds=3)
    clock.set(minute(4))
    fake.push("stocks", [am(*r) for r in minute_rows(T0, 3)])
    assert runner.quiet(0.2) == []
    clock.set(minute(5) + timedelta(seconds=4))
    (bar,) = runner.take(1)
    assert bar.timestamp == T0 and bar.close == pytest.approx(100.3)


def test_duplicates_are_dropped_and_late_revisions_ignored_and_logged(fake, live, clock, caplog):
    runner = live("1m")
    clock.set(minute(3))
    with caplog.at_level(logging.INFO, logger="stratequeue_polygon"):
        fake.push("stocks", [am(minute(0), 10, 11, 9, 10.5)])
        fake.push("stocks", [am(minute(0), 10, 11, 9, 10.5)])
        fake.push("stocks", [am(minute(0), 10, 15, 9, 14)])  # a revision after delivery
        fake.push("stocks", [am(minute(1), 10, 11, 9, 10.5)])
        bars = runner.take(2)
        assert runner.quiet(0.2) == []
    assert [b.timestamp for b in bars] == [minute(0), minute(1)]
    assert "late revision" in caplog.text


def test_bad_live_bars_never_reach_the_strategy(fake, live, clock, caplog):
    runner = live("1m")
    clock.set(minute(3))
    with caplog.at_level(logging.WARNING):
        fake.push(
            "stocks",
            [
                am(minute(0), 10, 9, 11, 10),  # high < low
                am(minute(1), 0, 11, 0, 10),  # non-positive
                am(minute(10), 10, 11, 9, 10),  # from the future
                am(minute(2), 10, 11, 9, 10.5),
            ],
        )
        (bar,) = runner.take(1)
        assert runner.quiet(0.2) == []
    assert bar.timestamp == minute(2)
    assert "below low" in caplog.text and "not a positive" in caplog.text
    assert "in the future" in caplog.text


def test_reconnects_after_a_drop_and_backfills_the_gap_over_rest(fake, live, clock, caplog):
    runner = live("1m")
    clock.set(minute(1))
    fake.push("stocks", [am(*minute_rows(T0, 1)[0])])
    assert [b.timestamp for b in runner.take(1)] == [minute(0)]

    rows = minute_rows(T0, 4)
    fake.add_bars("AAPL", 60, rows[:3])  # REST knows 14:00-14:02
    clock.set(minute(3) + timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="stratequeue_polygon"):
        fake.drop_connections("stocks")
        bars = runner.take(2)
    assert [b.timestamp for b in bars] == [minute(1), minute(2)]
    assert "reconnecting" in caplog.text
    assert fake.ws_connections_total >= 2
    fake.wait_subscribed("AM.AAPL")
    fake.push("stocks", [am(*rows[2]), am(*rows[3])])  # 14:02 again, then 14:03
    clock.set(minute(4))
    assert [b.timestamp for b in runner.take(1)] == [minute(3)]
    assert runner.quiet(0.2) == []


def test_plan_without_websocket_falls_back_to_rest_polling_and_says_so_once(
    fake, live, clock, caplog
):
    fake.websocket = False
    fake.add_bars("AAPL", 60, minute_rows(T0, 3))
    clock.set(T0 + timedelta(seconds=30))
    with caplog.at_level(logging.WARNING, logger="stratequeue_polygon"):
        runner = live("1m", topic=None, rest_requests_per_minute=5)
        deadline = time.monotonic() + 5
        while "no websocket access" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.quiet(0.2) == []  # the catch-up poll finds no closed bar yet
        before = len(fake.requests)
        assert runner.quiet(0.2) == []  # next poll: 14:01:02, not before
        assert len(fake.requests) == before
        clock.set(minute(1) + timedelta(seconds=3))
        assert [b.timestamp for b in runner.take(1)] == [minute(0)]
        clock.set(minute(2) + timedelta(seconds=3))
        assert [b.timestamp for b in runner.take(1)] == [minute(1)]
    assert caplog.text.count("no websocket access") == 1
    assert "5 requests/min" in caplog.text


def test_websocket_upgrade_refused_with_403_also_falls_back(fake, live, clock, caplog):
    fake.ws_http_status = 403
    fake.add_bars("AAPL", 60, minute_rows(T0, 2))
    with caplog.at_level(logging.WARNING, logger="stratequeue_polygon"):
        runner = live("1m", topic=None, connect_timeout_seconds=0.3)
        clock.set(minute(1) + timedelta(seconds=3))
        assert [b.timestamp for b in runner.take(1, timeout=8)] == [minute(0)]
    assert "HTTP 403" in caplog.text


def test_polling_survives_rate_limiting_and_catches_up(fake, live, clock, caplog):
    fake.websocket = False
    fake.add_bars("AAPL", 60, minute_rows(T0, 3))
    runner = live("1m", topic=None, websocket=False)
    fake.rate_limit_per_minute = 0
    with caplog.at_level(logging.WARNING, logger="stratequeue_polygon"):
        clock.set(minute(1) + timedelta(seconds=3))
        deadline = time.monotonic() + 5
        while "postponed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    assert "postponed" in caplog.text and fake.rate_limited >= 1
    fake.rate_limit_per_minute = None
    clock.set(minute(2) + timedelta(seconds=3))
    assert [b.timestamp for b in runner.take(2)] == [minute(0), minute(1)]


def test_startup_backfills_the_open_period_so_the_first_bar_is_whole(fake, live, clock):
    rows = minute_rows(T0, 5)
    fake.add_bars("AAPL", 60, rows[:2])
    clock.set(minute(2) + timedelta(seconds=10))
    runner = live("5m")
    clock.set(minute(5))
    fake.push("stocks", [am(*r) for r in rows[2:]])
    (bar,) = runner.take(1)
    assert bar.open == rows[0][1] and bar.close == rows[4][4]


def test_stream_continues_after_history_without_repeating_it(fake, make_source, clock):
    fake.add_bars("AAPL", 60, minute_rows(T0 - timedelta(minutes=10), 13))
    clock.set(minute(2) + timedelta(seconds=10))
    source = make_source("1m")
    hist = source.history("AAPL", 5)
    assert hist[-1].timestamp == minute(1)
    runner = StreamRunner(source, ["AAPL"])
    fake.wait_subscribed("AM.AAPL")
    fake.push("stocks", [am(*minute_rows(minute(2), 1)[0])])
    clock.set(minute(3))
    assert [b.timestamp for b in runner.take(1)] == [minute(2)]
    runner.stop()


def test_stop_returns_promptly_even_while_the_socket_is_unreachable(make_source):
    env = {
        "POLYGON_API_KEY": KEY,
        "POLYGON_BASE_URL": "http://127.0.0.1:9",
        "POLYGON_WS_URL": "ws://127.0.0.1:9",
    }
    runner = StreamRunner(make_source("1m", env=env), ["AAPL"])
    time.sleep(0.3)
    assert runner.stop() < 1.5


def test_stop_returns_promptly_from_a_live_stream(fake, live):
    runner = live("1m")
    assert runner.stop() < 1.5


def test_the_key_never_appears_in_logs(fake, live, clock, caplog):
    with caplog.at_level(logging.DEBUG):
        runner = live("1m")
        clock.set(minute(1))
        fake.push("stocks", [am(*minute_rows(T0, 1)[0])])
        runner.take(1)
        fake.drop_connections()
        fake.wait_subscribed("AM.AAPL")
        runner.stop()
    assert KEY not in caplog.text
