"""The central promise: the live runner decides exactly as Backtest.run on the same bars."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import DATASETS, assert_parity, reference, run_live
from strategies import (
    BracketBreakout,
    NoIndicators,
    RandomOrders,
    ResampledTrend,
    SignalCross,
    SmaCross,
    TrailingTrend,
)
from stratequeue.engine import BacktestOptions
from stratequeue.models import IntentAction

Opt = BacktestOptions
CASES: list[tuple[str, Any, str, BacktestOptions, dict[str, Any]]] = [
    ("sma-goog", SmaCross, "GOOG", Opt(), {}),
    ("sma-goog-commission", SmaCross, "GOOG", Opt(commission=0.002), {"n1": 5, "n2": 30}),
    ("sma-eurusd-margin", SmaCross, "EURUSD", Opt(cash=10_000, margin=0.02, spread=0.0002), {}),
    ("sma-btc", SmaCross, "BTCUSD", Opt(cash=1_000_000), {"n1": 3, "n2": 8}),
    ("sma-syn-toc", SmaCross, "SYN", Opt(trade_on_close=True), {}),
    ("bracket-goog", BracketBreakout, "GOOG", Opt(commission=(2.0, 0.001)), {}),
    ("bracket-syn-tz", BracketBreakout, "SYN_TZ", Opt(spread=0.001), {}),
    ("bracket-eurusd", BracketBreakout, "EURUSD", Opt(margin=0.05), {"n": 30}),
    ("random-goog", RandomOrders, "GOOG", Opt(), {}),
    ("random-goog-hedging", RandomOrders, "GOOG", Opt(hedging=True, commission=0.001), {"seed": 3}),
    ("random-syn-exclusive", RandomOrders, "SYN", Opt(exclusive_orders=True), {"seed": 11}),
    ("random-syn-toc", RandomOrders, "SYN", Opt(trade_on_close=True, spread=0.0005), {"seed": 5}),
    (
        "random-syn-tz-margin",
        RandomOrders,
        "SYN_TZ",
        Opt(margin=0.1, commission=(1.0, 0.0005)),
        {"seed": 9, "unit": 10},
    ),
    (
        "random-eurusd",
        RandomOrders,
        "EURUSD",
        Opt(margin=0.02),
        {"seed": 2, "unit": 10_000, "rate": 0.2},
    ),
    ("random-btc", RandomOrders, "BTCUSD", Opt(cash=1_000_000), {"seed": 4, "rate": 0.5}),
    ("signal-goog", SignalCross, "GOOG", Opt(), {}),
    ("signal-syn-hedging", SignalCross, "SYN", Opt(hedging=True), {}),
    ("trailing-goog", TrailingTrend, "GOOG", Opt(), {}),
    ("resampled-syn", ResampledTrend, "SYN", Opt(commission=0.001), {"rule": "D", "n": 3}),
    (
        "resampled-eurusd-daily",
        ResampledTrend,
        "EURUSD_1K",
        Opt(margin=0.05),
        {"rule": "D", "n": 3},
    ),
    ("noindicators-syn", NoIndicators, "SYN", Opt(), {}),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("name", "cls", "data", "options", "params"), CASES, ids=IDS)
def test_runner_matches_backtest_from_bar_zero(name, cls, data, options, params):
    df = DATASETS[data]
    ref = reference(df, cls, options, params)
    runner, steps = run_live(df, cls, options, params)
    assert_parity(runner, ref)
    assert len(ref._trades) > 0, "the case must trade to prove anything"


WARM = [
    c
    for c in CASES
    if c[0]
    in {
        "sma-goog-commission",
        "bracket-goog",
        "random-goog-hedging",
        "random-syn-exclusive",
        "random-syn-tz-margin",
        "signal-goog",
        "trailing-goog",
        "resampled-eurusd-daily",
        "random-btc",
        "random-eurusd",
    }
]


@pytest.mark.parametrize(
    ("name", "cls", "data", "options", "params"), WARM, ids=[c[0] for c in WARM]
)
def test_runner_matches_backtest_after_warm_start(name, cls, data, options, params):
    df = DATASETS[data]
    ref = reference(df, cls, options, params)
    warm = len(df) * 2 // 3
    runner, steps = run_live(df, cls, options, params, warm=warm)
    assert_parity(runner, ref)


def _shape(steps):
    return [
        [(i.action, i.size, i.order_type, i.limit, i.stop, i.sl, i.tp, i.tag) for i in s.intents]
        for s in steps
    ]


def test_adopted_and_replayed_warm_starts_emit_identical_intents():
    df = DATASETS["SYN"].iloc[:700]
    options = Opt(commission=0.001)
    ref = reference(df, RandomOrders, options, {})
    _, base_steps = run_live(df, RandomOrders, options, {}, warm=0)
    adopted, adopted_steps = run_live(df, RandomOrders, options, {}, warm=400)
    replayed, replayed_steps = run_live(df, RandomOrders, options, {}, warm=400, replay=True)
    assert_parity(adopted, ref)
    assert_parity(replayed, ref)
    assert [s.intents for s in adopted_steps] == [s.intents for s in replayed_steps]
    assert [s.executions for s in adopted_steps] == [s.executions for s in replayed_steps]
    assert adopted.warm_start_intents == replayed.warm_start_intents
    assert _shape(adopted_steps) == _shape(base_steps[400:])


def test_replaying_the_same_bars_gives_the_same_refs():
    df = DATASETS["SYN"].iloc[:300]
    _, first = run_live(df, RandomOrders)
    _, second = run_live(df, RandomOrders)
    refs = [i.ref for s in first for i in s.intents]
    assert refs and refs == [i.ref for s in second for i in s.intents]
    assert all(r.count("-") == 1 and r.split("-")[0][8] == "T" for r in refs)


def test_warm_start_inherits_open_trades_and_pending_orders():
    df = DATASETS["SYN"]
    options = Opt()
    ref_warm = reference(df.iloc[:600], RandomOrders, options, {})
    runner, _ = run_live(df.iloc[:600], RandomOrders, options, {}, warm=600)
    assert [t.size for t in runner.inherited_trades] == [t.size for t in ref_warm._strategy.trades]
    assert len(runner.warm_start_intents) == len(ref_warm._strategy.orders)
    assert all(i.action is IntentAction.NEW for i in runner.warm_start_intents)
