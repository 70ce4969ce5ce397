"""fills="external": a real broker fills; the book follows so the strategy sees what it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from backtesting import Strategy
from stratequeue.engine import BacktestOptions, StrategyRunner
from stratequeue.errors import UsageError
from stratequeue.models import Bar, IntentAction, OrderType

T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


class Scripted(Strategy):
    """Does what the test queued in ``plan`` (bar number -> callable)."""

    plan: dict = {}

    def init(self):
        self.k = 0

    def next(self):
        self.k += 1
        action = self.plan.get(self.k)
        if action:
            action(self)


def make(plan, **options):
    cls = type("S", (Scripted,), {"plan": plan})
    runner = StrategyRunner(
        cls, strategy_id="s", symbol="X", options=BacktestOptions(**options), fills="external"
    )
    return runner


def bar(i, price=100.0):
    return Bar("X", T0 + timedelta(minutes=i), price, price + 1, price - 1, price)


def feed(runner, start, count, price=100.0):
    return [runner.on_bar(bar(i, price)) for i in range(start, start + count)]


def test_market_order_waits_for_the_real_fill():
    runner = make({1: lambda s: s.buy(size=10)})
    steps = feed(runner, 0, 3)
    [intent] = steps[1].intents
    assert (intent.action, intent.order_type, intent.size) == (
        IntentAction.NEW,
        OrderType.MARKET,
        10,
    )
    assert runner.position_size == 0 and len(runner.orders) == 1  # the book did not self-fill
    result = runner.apply_fill(intent.ref, 10, 100.5)
    assert runner.position_size == 10 and runner.orders == ()
    [ex] = result.executions
    assert (ex.kind, ex.order_ref, ex.size, ex.price) == ("open", intent.ref, 10, 100.5)
    assert result.intents == []


def test_partial_fills_keep_the_rest_pending():
    runner = make({1: lambda s: s.buy(size=10, limit=99)})
    [intent] = feed(runner, 0, 2)[1].intents
    assert intent.order_type is OrderType.LIMIT
    runner.apply_fill(intent.ref, 4, 99)
    assert runner.position_size == 4 and runner.orders[0].size == 6
    assert runner.apply_fill(intent.ref, 6, 98.5).intents == []
    assert runner.position_size == 10 and runner.orders == ()
    assert [t.size for t in runner.open_trades] == [4, 6]


def test_bracket_fill_creates_sl_tp_and_the_sl_fill_cancels_the_tp():
    runner = make({1: lambda s: s.buy(size=5, stop=101, sl=95, tp=110)})
    [intent] = feed(runner, 0, 2)[1].intents
    assert intent.order_type is OrderType.STOP and (intent.sl, intent.tp) == (95, 110)
    opened = runner.apply_fill(intent.ref, 5, 101.2)
    legs = {i.order_type: i for i in opened.intents}
    assert set(legs) == {OrderType.STOP, OrderType.LIMIT}
    assert all(
        i.parent_ref == opened.executions[0].trade_ref and i.size == -5 for i in legs.values()
    )
    closed = runner.apply_fill(legs[OrderType.STOP].ref, 5, 94.9)
    assert closed.executions[0].kind == "close" and closed.executions[0].pnl == pytest.approx(
        5 * (94.9 - 101.2)
    )
    assert [(i.action, i.ref) for i in closed.intents] == [
        (IntentAction.CANCEL, legs[OrderType.LIMIT].ref)
    ]
    assert runner.position_size == 0 and runner.orders == ()
    assert len(runner.trades_frame()) == 1


def test_opposite_fill_nets_fifo_when_not_hedging():
    runner = make(
        {1: lambda s: s.buy(size=3), 2: lambda s: s.buy(size=2), 3: lambda s: s.sell(size=4)}
    )
    steps = feed(runner, 0, 2)
    runner.apply_fill(steps[1].intents[0].ref, 3, 100)
    steps = feed(runner, 2, 1)
    runner.apply_fill(steps[0].intents[0].ref, 2, 101)
    steps = feed(runner, 3, 1)
    result = runner.apply_fill(steps[0].intents[0].ref, 4, 102)
    assert [(e.kind, e.size) for e in result.executions] == [("close", 3), ("close", 1)]
    assert runner.position_size == 1


def test_trade_sl_edit_is_a_replace_of_the_same_leg():
    def move(s):
        s.trades[0].sl = 97

    runner = make({1: lambda s: s.buy(size=5, sl=95), 3: move})
    [intent] = feed(runner, 0, 2)[1].intents
    [sl] = runner.apply_fill(intent.ref, 5, 100).intents
    steps = feed(runner, 2, 2)
    [replace] = steps[1].intents
    assert (replace.action, replace.ref, replace.stop) == (IntentAction.REPLACE, sl.ref, 97)


def test_rejected_order_disappears_without_an_intent():
    runner = make({1: lambda s: s.buy(size=10, limit=90)})
    [intent] = feed(runner, 0, 2)[1].intents
    runner.cancel_order(intent.ref, "rejected: market closed")
    assert runner.orders == ()
    assert all(s.intents == [] for s in feed(runner, 2, 2))


def test_position_close_becomes_a_market_order_for_the_trade():
    runner = make({1: lambda s: s.buy(size=6), 3: lambda s: s.position.close(0.5)})
    [intent] = feed(runner, 0, 2)[1].intents
    runner.apply_fill(intent.ref, 6, 100)
    [close] = feed(runner, 2, 2)[1].intents
    assert close.size == -3 and close.parent_ref is not None
    runner.apply_fill(close.ref, 3, 100.5)
    assert runner.position_size == 3


def test_fractional_real_fills_are_kept():
    runner = make({1: lambda s: s.buy(size=0.5)})
    [intent] = feed(runner, 0, 2)[1].intents
    assert intent.is_fraction
    runner.apply_fill(intent.ref, 0.0375, 100)
    assert runner.position_size == pytest.approx(0.0375) and runner.orders == ()


def test_apply_fill_needs_external_mode():
    runner = StrategyRunner(Scripted, strategy_id="s", symbol="X")
    with pytest.raises(UsageError, match="fills='external'"):
        runner.apply_fill("x", 1, 1)
