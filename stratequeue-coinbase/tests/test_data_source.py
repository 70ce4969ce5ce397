"""The ``coinbase`` data source against the fake: public candles paged in 300-candle windows,
and live bars folded from the market_trades channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import wait_for
from stratequeue.models import Bar
from stratequeue.testing import ManualClock, SourceFactory, StreamRunner
from stratequeue_coinbase import CoinbaseDataSource
from stratequeue_coinbase.testing import FakeCoinbase

CANDLES = "/api/v3/brokerage/market/products/BTC-USD/candles"


@pytest.fixture
def sources(fake: FakeCoinbase) -> Iterator[SourceFactory]:
    env = {k: v for k, v in fake.env().items() if not k.startswith("COINBASE_API")}  # no key
    factory = SourceFactory(CoinbaseDataSource, env, {"grace_seconds": 1.0})
    yield factory
    factory.close_all()


@pytest.mark.parametrize(
    ("granularity", "name", "step"),
    [
        ("1m", "ONE_MINUTE", 60),
        ("5m", "FIVE_MINUTE", 300),
        ("15m", "FIFTEEN_MINUTE", 900),
        ("1h", "ONE_HOUR", 3600),
        ("1d", "ONE_DAY", 86400),
    ],
)
def test_history_is_paged_in_300_candle_windows(
    fake: FakeCoinbase, sources: SourceFactory, granularity: str, name: str, step: int
) -> None:
    source = sources(granularity)
    now = datetime.now(UTC)
    bars = source.history("BTC-USD", 700)
    assert len(bars) == 700
    starts = [int(b.timestamp.timestamp()) for b in bars]
    assert starts == list(range(starts[0], starts[0] + 700 * step, step))  # whole, in order
    assert bars[-1].timestamp + timedelta(seconds=step) <= now  # only closed candles
    assert bars[-1].timestamp + timedelta(seconds=2 * step) > now  # the last closed one
    asked = [r.query for r in fake.log if r.path == CANDLES]
    assert len(asked) == 3 and {q["granularity"] for q in asked} == {name}
    spans = [(int(q["end"]) - int(q["start"])) // step + 1 for q in asked]
    assert spans == [300, 300, 300]


def test_symbols_users_type_are_mapped_and_no_key_is_needed(
    fake: FakeCoinbase, sources: SourceFactory
) -> None:
    bars = sources("1m").history("BTCUSD", 5)
    assert [b.symbol for b in bars] == ["BTCUSD"] * 5
    assert all(r.path == CANDLES for r in fake.log)


def _trade(fake: FakeCoinbase, at: datetime, price: float, size: float, tid: str) -> None:
    fake.trade("BTC-USD", price, size, at, trade_id=tid)


def test_live_bars_are_folded_from_market_trades(
    fake: FakeCoinbase, sources: SourceFactory
) -> None:
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    clock = ManualClock(t0 + timedelta(seconds=1))
    source = sources("1m", clock=clock)
    runner = StreamRunner(source, ["BTC-USD"])
    try:
        wait_for(lambda: fake.market_sockets)
        clock.set(t0 + timedelta(seconds=55))
        _trade(fake, t0 + timedelta(seconds=1), 100.0, 0.5, "1")
        _trade(fake, t0 + timedelta(seconds=2), 103.0, 0.25, "2")
        _trade(fake, t0 + timedelta(seconds=2), 99.0, 0.25, "3")  # the same instant: kept
        _trade(fake, t0 + timedelta(seconds=2), 99.0, 0.25, "3")  # the same trade: once
        _trade(fake, t0 + timedelta(seconds=50), 101.0, 1.0, "4")
        assert runner.quiet(0.3) == []  # the minute is not over
        clock.set(t0 + timedelta(seconds=62))
        _trade(fake, t0 + timedelta(seconds=61), 102.0, 1.0, "5")
        (bar,) = runner.take(1)
        assert bar == Bar("BTC-USD", t0, 100.0, 103.0, 99.0, 101.0, 2.0)
        assert runner.quiet(0.3) == []  # the next minute waits for its end
    finally:
        runner.stop()


def test_trades_missed_while_disconnected_come_back_with_the_snapshot(
    fake: FakeCoinbase, sources: SourceFactory
) -> None:
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    clock = ManualClock(t0 + timedelta(seconds=1))
    source = sources("1m", clock=clock)
    runner = StreamRunner(source, ["BTC-USD"])
    try:
        wait_for(lambda: fake.market_sockets)
        clock.set(t0 + timedelta(seconds=55))
        _trade(fake, t0 + timedelta(seconds=1), 100.0, 1.0, "1")
        wait_for(lambda: source.feed is not None and source.feed.connections == 1)
        fake.block_streams = True
        fake.drop_streams()
        _trade(fake, t0 + timedelta(seconds=10), 90.0, 2.0, "2")  # nobody listens
        fake.block_streams = False
        wait_for(lambda: source.feed.connections == 2, timeout=10)
        clock.set(t0 + timedelta(seconds=62))
        _trade(fake, t0 + timedelta(seconds=61), 102.0, 1.0, "3")
        (bar,) = runner.take(1)
        assert bar == Bar("BTC-USD", t0, 100.0, 100.0, 90.0, 90.0, 3.0)  # trade 1 once
    finally:
        runner.stop()
