"""`stratequeue verify` after a paper run on the demo feed, stopped and restarted on the same
ledger: the command a user runs, as they run it; the run must verify IDENTICAL."""

from __future__ import annotations

import sqlite3

from .conftest import REPO

RANDOM = REPO / "stratequeue-core" / "tests" / "engine" / "strategy_files" / "random_orders.py"
SMA = REPO / "examples" / "strategies" / "sma.py"


def test_a_demo_paper_run_with_a_restart_verifies_identical(run, tmp_path):
    strategies = tmp_path / "strategies.txt"
    strategies.write_text(f"{RANDOM},random,0.5\n{SMA},sma,0.4\n")
    db = tmp_path / "demo.sqlite"
    for _ in range(2):  # the second start rebuilds both books from the ledger
        out = run(
            "--strategies", str(strategies), "--symbols", "AAPL", "--data-source", "demo",
            "--granularity", "1s", "--duration", "0.2", "--db", str(db), timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    closed = con.execute("SELECT COUNT(*) FROM trades WHERE strategy_id='random'").fetchone()[0]
    con.close()
    assert closed > 0, "the run made no trade: it proves nothing"
    out = run("verify", "--db", str(db))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "random [paper/replay (exact)]: IDENTICAL to its backtest" in out.stdout
    assert "sma [paper/replay (exact)]: IDENTICAL to its backtest" in out.stdout
    out = run("verify", "--db", str(db), "--strategy", "nope")
    assert out.returncode == 2 and "Unknown strategy 'nope'" in out.stderr
