"""With the analytics extra: the TA-Lib example strategy replays through the live code path
exactly as Backtest.run trades it (run by `nox -s analytics`; the core session has no talib)."""

from __future__ import annotations

import pytest
from test_replay_parity import (
    DATA,
    EXAMPLES,
    OPTIONS,
    assert_same,
    assert_same_equity,
    ledger_equity,
    reference,
    replayed,
)

RSI = EXAMPLES / "rsi_talib.py"
CASES = [("GOOG", "commission"), ("EURUSD", "spread"), ("SYNTH", "plain"), ("GOOG", "margin")]


@pytest.mark.parametrize(("data", "option"), CASES, ids=[f"{d}-{o}" for d, o in CASES])
def test_talib_rsi_example_replays_exactly_as_backtest_run(tmp_path, data, option):
    frame, cash = DATA[data]
    flags, kwargs = OPTIONS[option]
    trades, db = replayed(tmp_path, frame, RSI, cash, *flags)
    ref = reference(frame, RSI, cash, **kwargs)
    assert_same(trades, ref.trades)
    assert_same_equity(ledger_equity(db, RSI.stem), ref.equity)


def test_talib_rsi_example_from_a_warm_start(tmp_path):
    frame, cash = DATA["GOOG"]
    trades, db = replayed(tmp_path, frame, RSI, cash, "--warmup", "500")
    ref = reference(frame, RSI, cash)
    assert_same(trades, ref.trades[ref.trades["ExitBar"] >= 500].reset_index(drop=True))
    assert_same_equity(ledger_equity(db, RSI.stem), ref.equity, live_from=500)
