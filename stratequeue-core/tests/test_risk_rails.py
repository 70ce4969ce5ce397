"""Every risk rule, triggered in a paper run (the live path through `replay`) and found in the
ledger; the kill switch survives a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
from backtesting.test import GOOG
from stratequeue.cli import main
from test_replay_parity import synthetic

HERE = Path(__file__).parent / "portfolio_files"
SMA = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "sma.py"


def replay(
    tmp_path: Path,
    frame: pd.DataFrame,
    strategy: Path,
    *flags: str,
    db: str = "l.sqlite",
    symbol: str = "GOOG",
) -> sqlite3.Connection:
    csv = tmp_path / f"{symbol}-{len(frame)}.csv"
    frame.to_csv(csv)
    main(
        [
            "replay",
            "--strategy",
            str(strategy),
            "--data",
            str(csv),
            "--symbol",
            symbol,
            "--db",
            str(tmp_path / db),
            *flags,
        ]
    )
    return sqlite3.connect(tmp_path / db)


def refused(con: sqlite3.Connection, rule: str) -> int:
    return con.execute(
        "SELECT COUNT(*) FROM orders WHERE status='rejected' AND message=?", (f"risk rule {rule}",)
    ).fetchone()[0]


def kills(con: sqlite3.Connection) -> list[str]:
    return [
        r
        for (r,) in con.execute(
            "SELECT json_extract(detail, '$.rule') FROM signals WHERE signal='KILL'"
        )
    ]


def test_max_order_value_refuses_and_the_book_never_trades_them(tmp_path):
    con = replay(tmp_path, GOOG, SMA, "--max-order-value", "2000")
    assert refused(con, "max_order_value") > 50
    assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM order_events WHERE event='risk'").fetchone()[0] > 50


def test_max_position_value(tmp_path):
    con = replay(tmp_path, GOOG, HERE / "cross_short.py", "--max-position-value", "1000")
    assert refused(con, "max_position_value") > 0


def test_allowed_symbols(tmp_path):
    con = replay(tmp_path, GOOG.iloc[:400], SMA, "--allowed-symbols", "MSFT,AAPL")
    assert refused(con, "allowed_symbols") > 0
    assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 0


def test_max_orders_per_minute(tmp_path):
    frame = synthetic(60)
    frame.index = pd.date_range("2024-01-02 14:30", periods=len(frame), freq="min", tz="UTC")
    con = replay(tmp_path, frame, HERE / "burst.py", "--max-orders-per-minute", "2")
    assert refused(con, "max_orders_per_minute") >= 50  # one of every three, every minute


def test_max_daily_loss_trips_the_kill_switch(tmp_path):
    con = replay(tmp_path, synthetic(600), HERE / "cross_long.py", "--max-daily-loss", "150")
    assert "max_daily_loss" in kills(con)
    assert refused(con, "max_daily_loss") > 0


def test_max_drawdown_kill_switch_flattens_and_survives_a_restart(tmp_path):
    con = replay(tmp_path, GOOG.iloc[:300], SMA, "--max-drawdown", "0.03", "--flatten-on-kill")
    assert kills(con) == ["max_drawdown"]
    positions = con.execute("SELECT COALESCE(SUM(qty), 0) FROM fill_allocations").fetchone()[0]
    assert positions == 0  # flattened
    fills_before = con.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    # Restart on the same ledger with the rest of the data: still killed, nothing new opened.
    con = replay(tmp_path, GOOG, SMA, "--max-drawdown", "0.03", "--flatten-on-kill")
    assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == fills_before
    assert refused(con, "max_drawdown") > 20


def test_limits_per_strategy_from_the_config_file(tmp_path):
    config = tmp_path / "stratequeue.toml"
    config.write_text(
        "[risk]\nmax_orders_per_minute = 100\n\n[risk.strategies.sma]\nmax_order_value = 1500\n"
    )
    con = replay(tmp_path, GOOG.iloc[:500], SMA, "--config", str(config))
    assert refused(con, "max_order_value") > 0
