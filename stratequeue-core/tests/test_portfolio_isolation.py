"""Strategies sharing one account: netting and attribution never change any strategy's book.
Each strategy's trades in `replay --strategies` equal its own solo Backtest with
cash = allocation x account cash."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG
from stratequeue.cli import main
from test_replay_parity import (
    COLUMNS,
    FILES,
    assert_same,
    assert_same_equity,
    ledger_equity,
    reference,
    synthetic,
)

HERE = Path(__file__).parent / "portfolio_files"
#: each strategy's book is its solo backtest wherever the runners run (Ray: with the [ray] extra)
EXECUTORS = ["inline", "process", *(["ray"] if importlib.util.find_spec("ray") else [])]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"


def run_shared(tmp_path, frame, lines, cash, *flags):
    config = tmp_path / "strategies.txt"
    config.write_text("\n".join(f"{path},{sid},{alloc}" for path, sid, alloc in lines) + "\n")
    csv = tmp_path / "data.csv"
    frame.to_csv(csv)
    out = tmp_path / "trades.csv"
    db = tmp_path / "ledger.sqlite"
    main(
        [
            "replay",
            "--strategies",
            str(config),
            "--data",
            str(csv),
            "--cash",
            str(cash),
            "--trades-out",
            str(out),
            "--db",
            str(db),
            *flags,
        ]
    )
    trades = pd.read_csv(out)
    trades["EntryTime"] = pd.to_datetime(trades["EntryTime"], utc=True)
    trades["ExitTime"] = pd.to_datetime(trades["ExitTime"], utc=True)
    return trades, db


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize(("frame_name", "commission"), [("GOOG", 0.0), ("SYNTH", 0.002)])
def test_opposite_strategies_in_one_account_keep_their_solo_books(
    tmp_path, frame_name, commission, executor
):
    frame = GOOG if frame_name == "GOOG" else synthetic()
    cash = 100_000.0
    lines = [
        (HERE / "cross_long.py", "long", 0.5),
        (HERE / "cross_short.py", "short", 0.2),
        (FILES / "random_orders.py", "rnd", 0.3),
    ]
    flags = ["--commission", str(commission)] if commission else []
    trades, db = run_shared(tmp_path, frame, lines, cash, *flags, "--executor", executor)
    kwargs = {"commission": commission} if commission else {}
    for path, sid, alloc in lines:
        mine = trades[(trades["Strategy"] == sid) & trades["ExitBar"].notna()].reset_index(
            drop=True
        )
        ref = reference(frame, path, alloc * cash, **kwargs)
        assert_same(mine[COLUMNS], ref.trades)
        assert_same_equity(ledger_equity(db, sid), ref.equity)

    con = sqlite3.connect(db)
    # Opposite orders of the same bar went out as ONE broker order with several legs...
    netted = con.execute(
        "SELECT COUNT(*) FROM (SELECT client_order_id FROM order_legs GROUP BY client_order_id "
        "HAVING COUNT(DISTINCT strategy_id) > 1)"
    ).fetchone()[0]
    assert netted > 0
    # ...and every fill is attributed in full: allocations add up to the broker's quantity.
    for fill_id, side, qty in con.execute("SELECT id, side, qty FROM fills"):
        allocated = con.execute(
            "SELECT SUM(qty) FROM fill_allocations WHERE fill_id=?", (fill_id,)
        ).fetchone()[0]
        assert allocated == (qty if side == "buy" else -qty)
    # The account's position is the sum of the strategies' positions.
    strategy_total = con.execute("SELECT SUM(qty) FROM fill_allocations").fetchone()[0]
    signed = con.execute(
        "SELECT SUM(CASE side WHEN 'buy' THEN qty ELSE -qty END) FROM fills"
    ).fetchone()[0]
    assert strategy_total == signed


def test_status_shows_per_strategy_pnl_that_sums_to_the_account(tmp_path, capsys):
    lines = [(EXAMPLES / "sma.py", "sma", 0.6), (EXAMPLES / "mean_revert.py", "mr", 0.4)]
    _, db = run_shared(tmp_path, GOOG, lines, 10_000.0)
    replay_out = capsys.readouterr().out
    account = replay_out.split("equity $")[1].split(" ")[0]
    main(["status", "--db", str(db)])
    out = capsys.readouterr().out
    assert "sma" in out and "mr" in out and "TOTAL" in out
    con = sqlite3.connect(db)
    latest = con.execute(
        "SELECT SUM(equity) FROM equity e WHERE ts = (SELECT MAX(ts) FROM equity WHERE strategy_id = e.strategy_id)"
    ).fetchone()[0]
    assert f"{latest:,.2f}" == account  # to the cent, as both are shown
    total_line = next(line for line in out.splitlines() if "TOTAL" in line)
    assert f"{latest:,.2f}" in total_line


def test_export_dumps_every_table(tmp_path, capsys):
    _, db = run_shared(tmp_path, GOOG.iloc[:300], [(EXAMPLES / "sma.py", "sma", 1.0)], 10_000.0)
    main(["export", "--db", str(db), "--format", "json", "--out", str(tmp_path / "dump")])
    assert (tmp_path / "dump" / "fills.json").exists() and (
        tmp_path / "dump" / "trades.json"
    ).exists()
    main(["export", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "csv")])
    assert pd.read_csv(tmp_path / "csv" / "orders.csv").shape[0] > 0
    assert np.isfinite(pd.read_csv(tmp_path / "csv" / "equity.csv")["equity"]).all()


@pytest.mark.parametrize("mode", ["keep", "close"])
def test_changed_allocations_move_capital_on_the_next_run(tmp_path, capsys, mode):
    """Edit strategies.txt and restart on the same --db: each strategy's capital follows its new
    allocation, positions stay unless --rebalance close, and a later restart rebuilds the same."""
    frame = synthetic(500, seed=5)
    first, full = tmp_path / "first.csv", tmp_path / "full.csv"
    frame.iloc[:300].to_csv(first)
    frame.to_csv(full)
    config = tmp_path / "strategies.txt"
    db = tmp_path / "ledger.sqlite"

    def replay(csv, allocations, *flags):
        lines = [(HERE / "cross_long.py", "long"), (HERE / "cross_short.py", "short")]
        config.write_text(
            "".join(f"{p},{sid},{a}\n" for (p, sid), a in zip(lines, allocations, strict=True))
        )
        main(
            [
                "replay",
                "--strategies",
                str(config),
                "--data",
                str(csv),
                "--symbol",
                "SYN",
                "--cash",
                "100000",
                "--db",
                str(db),
                *flags,
            ]
        )
        return capsys.readouterr().out

    replay(first, (0.5, 0.2))
    con = sqlite3.connect(db)
    before = dict(con.execute("SELECT strategy_id, capital FROM sleeves").fetchall())
    held = dict(
        con.execute("SELECT strategy_id, SUM(qty) FROM fill_allocations GROUP BY 1").fetchall()
    )
    assert held["long"] != 0, "the case needs an open position at the change"
    out = replay(full, (0.3, 0.2), "--rebalance", mode)
    assert "allocation 0.5 -> 0.3" in out
    events = con.execute("SELECT strategy_id, kind, amount FROM sleeve_events").fetchall()
    equity_at_restart = con.execute(
        "SELECT account_equity FROM runs ORDER BY run_id DESC"
    ).fetchone()[0]
    assert events[0][:2] == ("long", "capital")
    assert events[0][2] == (0.3 - 0.5) * equity_at_restart
    assert all(s == "long" for s, _, _ in events)
    assert before == dict(con.execute("SELECT strategy_id, capital FROM sleeves").fetchall())
    assert (
        con.execute("SELECT allocation FROM strategies WHERE strategy_id='long'").fetchone()[0]
        == 0.3
    )
    closes = [e for e in events if e[1] == "close"]
    assert bool(closes) == (mode == "close")
    # The next restart rebuilds the book with the change at the same bar: nothing to send.
    again = replay(full, (0.3, 0.2))
    assert "Sent order" not in again and "Reconcil" not in again
