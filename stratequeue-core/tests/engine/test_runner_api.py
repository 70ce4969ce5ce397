"""Runner behaviour beyond parity: intents, refs, warm-up, lookback, the extractor plugin."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from conftest import DATASETS, bars, run_live
from strategies import FILES, NoIndicators, RandomOrders, SmaCross
from stratequeue.engine import BacktestOptions, StrategyRunner, default_lookback, load_strategy
from stratequeue.engine.extractor import BacktestingExtractor
from stratequeue.errors import UsageError
from stratequeue.models import IntentAction, OrderType


def test_no_next_call_during_indicator_warm_up():
    runner, steps = run_live(DATASETS["SYN"].iloc[:40], SmaCross)
    assert [s.traded for s in steps[:20]] == [False] * 20
    assert all(s.traded for s in steps[20:])


def test_intents_replay_into_the_books_pending_orders():
    runner, steps = run_live(
        DATASETS["SYN"].iloc[:800], RandomOrders, BacktestOptions(commission=0.001)
    )
    pending: dict[str, object] = {}
    seen = set()
    for step in steps:
        filled = {e.order_ref for e in step.executions}
        for ref in filled:
            pending.pop(ref, None)
        for intent in step.intents:
            seen.add(intent.action)
            if intent.action is IntentAction.CANCEL:
                assert pending.pop(intent.ref, None) is not None, intent
            elif intent.action is IntentAction.REPLACE:
                assert intent.ref in pending, intent
                pending[intent.ref] = intent
            else:
                pending[intent.ref] = intent
    book = {o._sq_ref: o for o in runner.orders}
    assert set(pending) == set(book)
    for ref, order in book.items():
        assert pending[ref].size == order.size and pending[ref].limit == order.limit
    assert seen == {IntentAction.NEW, IntentAction.CANCEL, IntentAction.REPLACE}


def test_bracket_orders_carry_their_trade_as_parent():
    runner, steps = run_live(DATASETS["SYN"].iloc[:800], RandomOrders)
    legs = [i for s in steps for i in s.intents if i.parent_ref and i.action is IntentAction.NEW]
    assert any(i.order_type is OrderType.STOP for i in legs)
    assert any(i.order_type is OrderType.LIMIT for i in legs)
    opened = {e.trade_ref for s in steps for e in s.executions if e.kind == "open"}
    assert {i.parent_ref for i in legs} <= opened | {t._sq_ref for t in runner.open_trades}


def test_executions_rebuild_the_closed_trades():
    runner, steps = run_live(DATASETS["GOOG"], SmaCross, BacktestOptions(commission=0.002))
    closes = [e for s in steps for e in s.executions if e.kind == "close"]
    frame = runner.trades_frame()
    assert [e.size for e in closes] == frame["Size"].tolist()
    assert [e.price for e in closes] == frame["ExitPrice"].tolist()
    assert [e.pnl for e in closes] == frame["PnL"].tolist()
    assert [e.entry_bar for e in closes] == frame["EntryBar"].tolist()
    assert all(e.time.tzinfo is not None for e in closes)


def test_insufficient_margin_becomes_a_cancel_with_reason(caplog):
    caplog.set_level(logging.WARNING, logger="stratequeue.engine")
    runner, steps = run_live(DATASETS["GOOG"].iloc[:300], NoIndicators, BacktestOptions(cash=300))
    reasons = {ref: why for s in steps for ref, why in s.cancel_reasons.items()}
    assert reasons and set(reasons.values()) == {"insufficient margin"}
    cancels = {i.ref for s in steps for i in s.intents if i.action is IntentAction.CANCEL}
    assert set(reasons) <= cancels
    assert any("insufficient margin" in r.getMessage() for r in caplog.records)


def test_unknown_parameter_is_a_usage_error():
    with pytest.raises(UsageError, match="no parameter 'n3'"):
        StrategyRunner(SmaCross, strategy_id="s", symbol="X", params={"n3": 1})


def test_params_override_class_attributes():
    runner, _ = run_live(DATASETS["SYN"].iloc[:60], SmaCross, params={"n1": 3})
    assert runner.strategy.n1 == 3 and runner.strategy.n2 == 20


def test_bars_must_arrive_in_time_order():
    runner = StrategyRunner(SmaCross, strategy_id="s", symbol="X")
    bar = next(bars(DATASETS["SYN"]))
    runner.on_bar(bar)
    with pytest.raises(UsageError, match="not after the last bar"):
        runner.on_bar(bar)


def test_default_lookback_from_indicator_warm_up(caplog):
    loaded = load_strategy(FILES / "random_orders.py")
    assert default_lookback(loaded, DATASETS["SYN"].iloc[:100]) == 6
    assert "defines no LOOKBACK" in caplog.text
    assert default_lookback(load_strategy(FILES / "sma_cross.py"), DATASETS["SYN"]) == 30


def test_extractor_is_registered_as_a_builtin_plugin():
    from stratequeue import plugins

    plugins.reset()
    assert plugins.registry("signal_extractors").get("backtesting") is BacktestingExtractor
    extractor = BacktestingExtractor()
    loaded = extractor.load(FILES / "sma_cross.py")
    runner = extractor.runner(
        loaded, strategy_id="s", symbol="X", options=BacktestOptions(cash=5e4)
    )
    runner.warm_start(DATASETS["GOOG"].iloc[:100])
    assert runner.bar_count == 100 and runner.options.cash == 5e4


def test_history_must_have_a_datetime_index():
    runner = StrategyRunner(SmaCross, strategy_id="s", symbol="X")
    with pytest.raises(UsageError, match="DatetimeIndex"):
        runner.warm_start(DATASETS["SYN"].reset_index(drop=True))


def test_views_before_any_bar():
    runner = StrategyRunner(SmaCross, strategy_id="s", symbol="X")
    assert (runner.equity, runner.position_size, runner.bar_count) == (10_000.0, 0, 0)
    assert runner.trades_frame().empty and isinstance(runner.trades_frame(), pd.DataFrame)
