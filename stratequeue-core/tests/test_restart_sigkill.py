"""Kill -9 at any moment, restart with the same --db: no order is sent twice, no fill is lost,
each strategy's position equals what its fills say, and the finished run is the very same
as one that was never interrupted."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_replay_parity import FILES, synthetic

HERE = Path(__file__).parent / "portfolio_files"
BARS = 500
# Kill points, as the share of bars already committed (0: during start-up, before any bar).
KILL_FRACTIONS = [0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.92, 0.98]


def _exe() -> str:
    return shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("restart")
    synthetic(BARS, seed=11).to_csv(folder / "data.csv")
    (folder / "strategies.txt").write_text(
        f"{HERE / 'cross_long.py'},long,0.4\n{HERE / 'cross_short.py'},short,0.2\n"
        f"{FILES / 'random_orders.py'},rnd,0.4\n"
    )
    return folder


def replay_args(folder: Path, db: Path, out: Path) -> list[str]:
    return [
        _exe(),
        "replay",
        "--strategies",
        str(folder / "strategies.txt"),
        "--data",
        str(folder / "data.csv"),
        "--cash",
        "100000",
        "--commission",
        "0.001",
        "--db",
        str(db),
        "--trades-out",
        str(out),
    ]


def start(args: list[str]) -> subprocess.Popen[bytes]:
    """Run the command with its output in a file (no pipes to drain while it is killed)."""
    env = {**os.environ, "TQDM_DISABLE": "1"}
    log = open(Path(args[args.index("--db") + 1]).with_suffix(".log"), "ab")  # noqa: SIM115
    return subprocess.Popen(args, stdout=log, stderr=log, env=env)


@pytest.fixture(scope="module")
def clean(setup):
    db, out = setup / "clean.sqlite", setup / "clean.csv"
    started = time.monotonic()
    proc = start(replay_args(setup, db, out))
    assert proc.wait(timeout=300) == 0, db.with_suffix(".log").read_text()
    return db, pd.read_csv(out), time.monotonic() - started


def account(db: Path) -> tuple[float, dict[str, float], set[str], set[str]]:
    paper = sqlite3.connect(db.with_name(db.stem + ".paper-account.sqlite"))
    cash = paper.execute("SELECT value FROM account WHERE key='cash'").fetchone()[0]
    holdings = {
        s: q for s, q in paper.execute("SELECT symbol, qty FROM holdings") if abs(q) > 1e-12
    }
    orders = {c for (c,) in paper.execute("SELECT client_order_id FROM orders")}
    executions = {e for (e,) in paper.execute("SELECT execution_id FROM executions")}
    return cash, holdings, orders, executions


def bars_done(db: Path) -> int:
    """How many bars the (running) replay has committed: the ledger is read while it writes."""
    if not db.exists():
        return -1
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
        try:
            return int(con.execute("SELECT COUNT(*) FROM bars").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def run_until(args: list[str], db: Path, bars: int) -> tuple[bool, subprocess.Popen[bytes]]:
    """Start the replay and SIGKILL it once ``bars`` bars are committed (-1: as soon as the
    ledger file exists, i.e. during start-up). Returns (killed, process)."""
    proc = start(args)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if bars_done(db) >= bars:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True, proc
        time.sleep(0.01)
    proc.wait(timeout=60)
    return False, proc


@pytest.mark.parametrize("fraction", KILL_FRACTIONS)
def test_sigkill_and_restart_loses_nothing_and_repeats_nothing(setup, clean, fraction, tmp_path):
    clean_db, clean_trades, _ = clean
    total = BARS
    db, out = tmp_path / "killed.sqlite", tmp_path / "killed.csv"
    args = replay_args(setup, db, out)
    first = int(fraction * total) if fraction else -1
    killed, proc = run_until(args, db, first)
    assert killed, "the run finished before the kill point"
    second = max(first, 0) + (total - max(first, 0)) // 2  # kill once more, after the restart
    run_until(args, db, second)
    proc = start(args)
    assert proc.wait(timeout=300) == 0, db.with_suffix(".log").read_text()

    # The finished run is the uninterrupted one: same trades, bit for bit.
    pd.testing.assert_frame_equal(pd.read_csv(out), clean_trades)

    ledger = sqlite3.connect(db)
    ledger_orders = {c for (c,) in ledger.execute("SELECT client_order_id FROM orders")}
    ledger_execs = {e for (e,) in ledger.execute("SELECT execution_id FROM fills")}
    cash, holdings, broker_orders, broker_execs = account(db)
    clean_cash, clean_holdings, clean_orders, _ = account(clean_db)
    # No order twice: the broker holds exactly the ledger's orders, as many as the clean run sent,
    # and no order was sent more than once.
    assert broker_orders == ledger_orders
    assert len(broker_orders) == len(clean_orders)
    sends = ledger.execute(
        "SELECT client_order_id, COUNT(*) FROM order_events WHERE event LIKE 'sent%' "
        "GROUP BY client_order_id HAVING COUNT(*) > 1"
    ).fetchall()
    assert sends == []
    # No fill lost or booked twice.
    assert broker_execs == ledger_execs
    assert cash == pytest.approx(clean_cash, abs=1e-6)
    # Each strategy's position is what its fills say, and they add up to the account.
    positions = dict(
        ledger.execute("SELECT symbol, SUM(qty) FROM fill_allocations GROUP BY symbol").fetchall()
    )
    assert {s: q for s, q in positions.items() if abs(q) > 1e-12} == pytest.approx(holdings)
    assert holdings == pytest.approx(clean_holdings)
