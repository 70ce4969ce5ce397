from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from conftest import KEY, T0
from streaming import StreamRunner


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def poller(fake, make_source, clock):
    """Start a stream; ``poll(t)`` moves the clock to ``t`` and waits for the poll it causes."""
    runners: list[StreamRunner] = []

    def start(granularity="1m", symbols=("BTC",), **options):
        source = make_source(granularity, poll_seconds=15, **options)
        runner = StreamRunner(source, list(symbols))
        runners.append(runner)
        wait_for_quotes(fake, 1)
        return runner

    yield start
    for runner in runners:
        runner.stop()


def quote_requests(fake) -> int:
    return sum("quotes/latest" in r for r in fake.requests)


def wait_for_quotes(fake, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while quote_requests(fake) < n:
        assert time.monotonic() < deadline, f"only {quote_requests(fake)} of {n} polls"
        time.sleep(0.01)
    time.sleep(0.05)  # let the answer be built and read before the test changes quotes


def poll(fake, clock, t) -> None:
    n = quote_requests(fake)
    clock.set(t)
    wait_for_quotes(fake, n + 1)


def test_bars_are_built_from_polled_quotes(fake, clock, poller):
    clock.set(at(-10))
    fake.set_quote("BTC", 100, 1000, at(-12))
    runner = poller("1m", symbols=("BTC/USD",))  # 13:59 is partial: never emitted
    for t, price, vol in [(5, 100, 1000), (20, 103, 1010), (35, 99, 1020), (50, 101, 1030)]:
        fake.set_quote("BTC", price, vol, at(t - 1))
        poll(fake, clock, at(t))
    fake.set_quote("BTC", 102, 1040, at(64))
    poll(fake, clock, at(65))
    (bar,) = runner.take(1)
    assert bar.symbol == "BTC/USD" and bar.timestamp == T0
    assert (bar.open, bar.high, bar.low, bar.close) == (100, 103, 99, 101)
    assert bar.volume == pytest.approx(30 + 1015 * 60 / 86400)
    assert runner.quiet(0.1) == []


def test_one_request_per_poll_for_all_symbols(fake, clock, poller):
    fake.set_quote("BTC", 100, 1000, at(1))
    fake.set_quote("ETH", 10, 500, at(1))
    runner = poller("1m", symbols=("BTC", "ETH/USD"))
    fake.set_quote("BTC", 101, 1000, at(61))
    fake.set_quote("ETH", 11, 500, at(61))
    poll(fake, clock, at(62))
    fake.set_quote("BTC", 102, 1000, at(121))
    fake.set_quote("ETH", 12, 500, at(121))
    poll(fake, clock, at(122))
    bars = runner.take(2)
    assert [(b.symbol, b.close) for b in bars] == [("BTC", 101), ("ETH/USD", 11)]
    quotes = [r for r in fake.requests if "quotes/latest" in r]
    assert all("symbol=BTC%2CETH" in r or "symbol=BTC,ETH" in r for r in quotes)


def test_poll_schedule_respects_the_plans_rate_limit(fake, make_source, clock, caplog):
    fake.plan_rate_limit = 2  # requests per minute, from /v1/key/info
    fake.set_quote("BTC", 100, 1000, at(1))
    with caplog.at_level(logging.INFO, logger="stratequeue_cmc"):
        runner = StreamRunner(make_source("1m"), ["BTC"])
        wait_for_quotes(fake, 1)
        clock.set(at(20))
        assert runner.quiet(0.2) == []
        assert quote_requests(fake) == 1  # next poll not before 30 s
        clock.set(at(31))
        wait_for_quotes(fake, 2)
        runner.stop()
    assert "every 30 s" in caplog.text


def test_live_rate_limits_and_errors_on_200_are_waited_out(fake, clock, poller, caplog):
    fake.set_quote("BTC", 100, 1000, at(1))
    runner = poller("1m")
    fake.fail_next.extend([(429, 1008), (200, 1011)])
    fake.set_quote("BTC", 101, 1000, at(61))
    with caplog.at_level(logging.WARNING, logger="stratequeue_cmc"):
        n = quote_requests(fake)
        clock.set(at(62))
        wait_for_quotes(fake, n + 3)  # two refused, then the answer
        fake.set_quote("BTC", 102, 1000, at(121))
        clock.set(at(122))
        (bar,) = runner.take(1)
    assert bar.close == 101
    assert caplog.text.count("retrying") == 2


def test_a_period_without_fresh_quotes_emits_no_bar(fake, clock, poller):
    fake.set_quote("BTC", 100, 1000, at(1))
    runner = poller("1m")
    poll(fake, clock, at(62))  # quote still from 14:00:01: belongs to the skipped period
    poll(fake, clock, at(125))
    assert runner.quiet(0.2) == []


def test_bad_quotes_never_reach_the_strategy(fake, clock, poller, caplog):
    fake.set_quote("BTC", 100, 1000, at(1))
    runner = poller("1m")
    with caplog.at_level(logging.WARNING):
        fake.set_quote("BTC", None, 1000, at(61))
        poll(fake, clock, at(62))
        fake.set_quote("BTC", -5, 1000, at(75))
        poll(fake, clock, at(80))
        fake.set_quote("BTC", 101, 1000, at(90))
        poll(fake, clock, at(95))
        fake.set_quote("BTC", 102, 1000, at(121))
        poll(fake, clock, at(125))
        (bar,) = runner.take(1)
    assert (bar.open, bar.close) == (101, 101)
    assert "not a positive number" in caplog.text


def test_a_bad_key_during_the_run_stops_the_stream_with_a_clear_error(fake, clock, poller):
    fake.set_quote("BTC", 100, 1000, at(1))
    runner = poller("1m")
    fake.fail_next.append((401, 1001))
    clock.set(at(62))
    runner.thread.join(5)
    assert "CMC_API_KEY" in str(runner.error)
    assert KEY not in str(runner.error)


def test_stop_returns_promptly_even_while_waiting_out_a_rate_limit(fake, make_source, clock):
    fake.set_quote("BTC", 100, 1000, at(1))
    fake.fail_next.extend([(429, 1008)] * 3)
    runner = StreamRunner(make_source("1m", rate_limit_wait_seconds=60, poll_seconds=15), ["BTC"])
    time.sleep(0.3)
    assert runner.stop() < 1.0


def test_stop_returns_promptly_from_a_quiet_stream(fake, clock, poller):
    fake.set_quote("BTC", 100, 1000, at(1))
    runner = poller("5m")
    assert runner.stop() < 1.0
