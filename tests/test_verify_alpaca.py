"""`stratequeue verify` on runs at a real broker's API: the fake Alpaca (alpaca-py pointed at
it) fills as backtesting.py does unless told to slip, fill part of an order, or refuse one;
verify must attribute every difference to what the broker did, and call the rest unexplained."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("stratequeue_alpaca")
from stratequeue.app import App  # noqa: E402
from stratequeue.portfolio.config import StrategySpec  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402
from stratequeue_alpaca.testing.replay import fake_replay_source, replay_config  # noqa: E402

from .conftest import stratequeue  # noqa: E402
from .test_replay_alpaca_parity import STRATEGIES, SYMBOL, synthetic  # noqa: E402

CASH = 10_000.0


def alpaca_run(
    tmp_path: Path,
    *,
    slippage_bps: float = 0.0,
    faults: Any = None,
    strategy: str = "sma_units.py",
    bars: int = 300,
) -> Path:
    csv = tmp_path / "bars.csv"
    synthetic(bars).to_csv(csv)
    db = tmp_path / "ledger.sqlite"
    with FakeAlpaca(fill_mode="on_bar", cash=CASH) as fake, fake_replay_source():
        fake.exchange.slippage_bps = slippage_bps
        fake.exchange.faults = dict(faults or {})
        specs = [StrategySpec(STRATEGIES / strategy, "units", 1.0)]
        with App(replay_config(fake, csv, specs, symbol=SYMBOL, db=db)) as app:
            app.execute()
    return db


def verify(db: Path) -> tuple[int, str]:
    """``stratequeue verify`` as a user runs it (the console script)."""
    done = stratequeue("verify", "--db", str(db))
    return done.returncode, done.stdout + done.stderr


def test_a_run_the_broker_filled_as_the_backtest_is_identical(tmp_path):
    code, out = verify(alpaca_run(tmp_path))
    assert code == 0, out
    assert "units [real broker]: IDENTICAL to its backtest" in out


def test_slippage_a_partial_fill_and_a_rejection_are_each_attributed(tmp_path):
    db = alpaca_run(
        tmp_path,
        slippage_bps=5.0,
        faults={4: ("reject", "insufficient buying power"), 9: ("partial", 0.5)},
    )
    con = sqlite3.connect(db)
    statuses = dict(con.execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall())
    con.close()
    assert statuses.get("rejected") == 1 and statuses.get("partially_filled") == 1, statuses
    code, out = verify(db)
    assert code == 0, out
    assert "units [real broker]: every difference explained" in out
    assert "[slippage] SYNTH: size" in out and "bps)" in out
    assert "[rejected] SYNTH:" in out and "rejected by the broker: insufficient buying power" in out
    # the partly filled order (sell 20: close the long 10, open a short 10) filled 10: the
    # long closed, the short the backtest opened there was never held
    assert "[partial] SYNTH: only the backtest made the trade size -10" in out, out
    assert "partially filled: 10 of 20" in out
    assert "slippage:" in out and "bps on average" in out
    assert "the gap by cause: slippage" in out
    assert "UNEXPLAINED" not in out


def test_a_difference_without_a_recorded_cause_is_unexplained(tmp_path):
    """The rejection happened, but its record is lost: verify cannot explain the trades it
    cost, and says so (exit 1)."""
    db = alpaca_run(tmp_path, faults={4: ("reject", "insufficient buying power")})
    con = sqlite3.connect(db)
    con.execute("DELETE FROM orders WHERE status='rejected'")
    con.commit()
    con.close()
    code, out = verify(db)
    assert code == 1, out
    assert "UNEXPLAINED: only the backtest made the trade" in out


def test_fraction_sizes_converted_at_submission_are_attributed(tmp_path):
    """``buy(size=0.5)``: the units are sized from the last close at submission where
    backtesting.py sizes them from the next open at the fill."""
    code, out = verify(alpaca_run(tmp_path, strategy="fraction_sma.py", bars=400))
    assert code == 0, out
    assert "[quantity] SYNTH: size" in out and "converted to" in out, out
    assert "at submission from the last close" in out
    assert "UNEXPLAINED" not in out


def test_a_run_restarted_at_the_same_broker_is_identical(tmp_path):
    """Stopped after 150 bars and started again on the same ledger and account: the second
    start rebuilds the book from the ledger and the broker's fills; nothing differs."""
    frame = synthetic(300)
    db = tmp_path / "ledger.sqlite"
    specs = [StrategySpec(STRATEGIES / "sma_units.py", "units", 1.0)]
    with FakeAlpaca(fill_mode="on_bar", cash=CASH) as fake, fake_replay_source():
        for k, end in enumerate((150, 300)):
            csv = tmp_path / f"part{k}.csv"
            frame.iloc[:end].to_csv(csv)
            with App(replay_config(fake, csv, specs, symbol=SYMBOL, db=db)) as app:
                app.execute()
    code, out = verify(db)
    assert code == 0, out
    assert "units [real broker]: IDENTICAL to its backtest" in out
    assert "trades matched 0/" not in out
