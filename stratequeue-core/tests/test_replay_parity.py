"""`stratequeue replay` runs the live code path (csv -> runner -> portfolio -> paper broker ->
ledger); its trades must equal Backtest.run's exactly, read back from the ledger's export."""

from __future__ import annotations

import importlib.util
import sqlite3
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting.test import BTCUSD, EURUSD, GOOG
from stratequeue.cli import main

FILES = Path(__file__).parent / "engine" / "strategy_files"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
COLUMNS = [
    "Size",
    "EntryBar",
    "ExitBar",
    "EntryPrice",
    "ExitPrice",
    "SL",
    "TP",
    "PnL",
    "Commission",
    "ReturnPct",
    "EntryTime",
    "ExitTime",
    "Tag",
]


def synthetic(n: int = 900, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    index = pd.date_range("2022-01-03", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "Open": open_,
            "High": high,
            "Low": low,
            "Close": close,
            "Volume": rng.integers(1000, 5000, n).astype(float),
        },
        index=index,
    )


DATA = {
    "GOOG": (GOOG, 10_000),
    "EURUSD": (EURUSD, 10_000),
    "BTCUSD": (BTCUSD, 1_000_000),
    "SYNTH": (synthetic(), 10_000),
}


def load_class(path: Path):
    spec = importlib.util.spec_from_file_location(f"parity_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from stratequeue.engine import load_strategy

    return load_strategy(path).cls


def reference(frame: pd.DataFrame, path: Path, cash: float, **options) -> Reference:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(frame, load_class(path), cash=cash, finalize_trades=False, **options).run()
    trades = stats._trades[COLUMNS].reset_index(drop=True)
    index = (
        frame.index.tz_localize("UTC") if frame.index.tz is None else frame.index.tz_convert("UTC")
    )
    trades["EntryTime"] = index[trades["EntryBar"].to_numpy()]
    trades["ExitTime"] = index[trades["ExitBar"].to_numpy()]
    return Reference(trades, stats._equity_curve["Equity"].to_numpy())


class Reference(NamedTuple):
    """What Backtest.run gives: the closed trades, and the equity after every bar."""

    trades: pd.DataFrame
    equity: np.ndarray


def ledger_equity(db: Path, strategy_id: str) -> np.ndarray:
    """A strategy's equity after every live bar, as the ledger recorded it."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT equity FROM equity WHERE strategy_id=? ORDER BY ts", (strategy_id,)
        ).fetchall()
    finally:
        con.close()
    return np.array([e for (e,) in rows])


def assert_same_equity(got: np.ndarray, ref: np.ndarray, live_from: int = 0) -> None:
    """Bit for bit: the equity after each live bar is Backtest.run's for that bar."""
    assert len(got) == len(ref) - live_from, f"{len(got)} equity rows, {len(ref)} bars"
    np.testing.assert_array_equal(got, ref[live_from:], err_msg="equity")


def replayed(
    tmp_path: Path, frame: pd.DataFrame, path: Path, cash: float, *extra: str
) -> tuple[pd.DataFrame, Path]:
    csv = tmp_path / "data.csv"
    frame.to_csv(csv)
    out = tmp_path / "trades.csv"
    main(
        [
            "replay",
            "--strategy",
            str(path),
            "--data",
            str(csv),
            "--cash",
            str(cash),
            "--trades-out",
            str(out),
            "--db",
            str(tmp_path / "ledger.sqlite"),
            *extra,
        ]
    )
    got = pd.read_csv(out, keep_default_na=True)
    got = got[got["ExitBar"].notna()].reset_index(drop=True)
    got["EntryTime"] = pd.to_datetime(got["EntryTime"], utc=True)
    got["ExitTime"] = pd.to_datetime(got["ExitTime"], utc=True)
    return got[COLUMNS], tmp_path / "ledger.sqlite"


def assert_same(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert len(got) == len(ref), f"{len(got)} trades replayed, {len(ref)} in the backtest"
    assert len(ref) > 0, "the case makes no trade: it proves nothing"
    for column in (
        "Size",
        "EntryBar",
        "ExitBar",
        "EntryPrice",
        "ExitPrice",
        "PnL",
        "Commission",
        "ReturnPct",
    ):
        np.testing.assert_array_equal(
            got[column].astype(float).to_numpy(),
            ref[column].astype(float).to_numpy(),
            err_msg=column,
        )
    for column in ("SL", "TP"):
        np.testing.assert_array_equal(
            got[column].astype(float).fillna(-1).to_numpy(),
            ref[column].astype(float).fillna(-1).to_numpy(),
            err_msg=column,
        )
    assert (got["EntryTime"].to_numpy() == ref["EntryTime"].to_numpy()).all()
    assert (got["ExitTime"].to_numpy() == ref["ExitTime"].to_numpy()).all()


OPTIONS = {
    "plain": ([], {}),
    "commission": (["--commission", "0.002"], {"commission": 0.002}),
    "commission-fixed": (["--commission", "1,0.001"], {"commission": (1.0, 0.001)}),
    "spread": (["--spread", "0.0008"], {"spread": 0.0008}),
    "margin": (["--margin", "0.5"], {"margin": 0.5}),
    "trade-on-close": (["--trade-on-close"], {"trade_on_close": True}),
    "hedging": (["--hedging"], {"hedging": True}),
    "exclusive": (["--exclusive-orders"], {"exclusive_orders": True}),
}

CASES = [
    ("sma", EXAMPLES / "sma.py", "GOOG", "plain"),
    ("sma", EXAMPLES / "sma.py", "EURUSD", "commission"),
    ("sma", EXAMPLES / "sma.py", "BTCUSD", "spread"),
    ("momentum", EXAMPLES / "momentum.py", "SYNTH", "commission-fixed"),
    ("mean_revert", EXAMPLES / "mean_revert.py", "GOOG", "margin"),
    ("random", FILES / "random_orders.py", "SYNTH", "plain"),
    ("random", FILES / "random_orders.py", "SYNTH", "hedging"),
    ("random", FILES / "random_orders.py", "GOOG", "commission"),
    ("random", FILES / "random_orders.py", "SYNTH", "trade-on-close"),
    ("random", FILES / "random_orders.py", "SYNTH", "exclusive"),
    ("bracket", FILES / "bracket_breakout.py", "GOOG", "spread"),
    ("bracket", FILES / "bracket_breakout.py", "SYNTH", "margin"),
    ("sma_cross", FILES / "sma_cross.py", "EURUSD", "trade-on-close"),
]


@pytest.mark.parametrize(
    ("name", "path", "data", "option"), CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES]
)
def test_replay_trades_and_equity_equal_backtest_run(tmp_path, name, path, data, option):
    frame, cash = DATA[data]
    flags, kwargs = OPTIONS[option]
    (trades, db), ref = (
        replayed(tmp_path, frame, path, cash, *flags),
        reference(frame, path, cash, **kwargs),
    )
    assert_same(trades, ref.trades)
    assert_same_equity(ledger_equity(db, path.stem), ref.equity)
    assert_orders_say_their_fills(db)


def assert_orders_say_their_fills(db: Path) -> None:
    """Each finished order's row says what its fills add up to: a filled order its booked
    quantity, a cancelled one none."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT o.client_order_id, o.status, o.filled_qty, "
        "(SELECT COALESCE(SUM(f.qty), 0) FROM fills f WHERE f.client_order_id = o.client_order_id) "
        "FROM orders o"
    ).fetchall()
    con.close()
    assert rows
    for cid, status, filled_qty, booked in rows:
        assert (status == "filled") == (booked > 0), (cid, status, booked)
        assert (filled_qty or 0.0) == booked, (cid, status, filled_qty, booked)


@pytest.mark.parametrize("warmup", [150, 400])
def test_replay_from_a_warm_start_equals_backtest_run(tmp_path, warmup):
    frame, cash = DATA["SYNTH"]
    path = FILES / "random_orders.py"
    trades, db = replayed(tmp_path, frame, path, cash, "--warmup", str(warmup))
    ref = reference(frame, path, cash)
    # Trades that closed during the warm-up were never live; every other trade is identical.
    assert_same(trades, ref.trades[ref.trades["ExitBar"] >= warmup].reset_index(drop=True))
    assert_same_equity(ledger_equity(db, path.stem), ref.equity, live_from=warmup)
