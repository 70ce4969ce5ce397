"""Real money: a --live run sends, cancels or replaces nothing before it is confirmed, and what
the broker holds is reconciled before the first new order. Checked at the wire of the fake
Alpaca, driven by the real alpaca-py."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import stratequeue

pytest.importorskip("stratequeue_alpaca")
from stratequeue.data.demo import _Walk  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402

EVERY_BAR = str(Path(__file__).parent / "strategies" / "trade_every_bar.py")
CHANGES = ("POST", "DELETE", "PATCH")


@pytest.fixture
def fake():
    with FakeAlpaca() as server:
        server.exchange.set_price("AAPL", round(_Walk("AAPL", 1).price, 2))
        yield server


def live_env(fake: FakeAlpaca) -> dict[str, str]:
    """Live credentials (the fake stands in for api.alpaca.markets); no paper keys at all."""
    return {
        **fake.env(paper=False),
        "PAPER_KEY": "",
        "PAPER_SECRET": "",
        "PAPER_ENDPOINT": "",
    }


def changes_since(fake: FakeAlpaca, start: int) -> list[str]:
    with fake._lock:
        return [f"{r.method} {r.path}" for r in fake.requests[start:] if r.method in CHANGES]


def ledger_rows(db: Path, sql: str) -> list[tuple]:
    """Rows of a ledger that a running process writes (none while it does not exist yet)."""
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return []
    try:
        return con.execute(sql).fetchall()
    except sqlite3.Error:
        return []
    finally:
        con.close()


def kill_when(proc: subprocess.Popen[bytes], ready, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before the kill point"
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the kill point was never reached")


def test_a_refused_live_run_sends_nothing_even_with_an_unsent_order_in_its_ledger(fake, tmp_path):
    db = tmp_path / "live.sqlite"
    args = ["--strategy", EVERY_BAR, "--symbols", "AAPL", "--granularity", "1s", "--live"]
    args += ["--data-source", "demo"]
    args += ["--db", str(db)]
    # A live run whose orders are committed but cannot be sent (Alpaca's asset lookup, made
    # before the POST, keeps failing): killed while such an order waits in its ledger.
    fake.fail("GET", "/v2/assets/AAPL", 503, times=10_000)
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    env = {**os.environ, **live_env(fake), "TQDM_DISABLE": "1"}
    with open(tmp_path / "first.log", "ab") as log:
        proc = subprocess.Popen([exe, *args, "--yes"], stdout=log, stderr=log, env=env)
        unsent = "SELECT client_order_id FROM orders WHERE status='pending' AND qty > 0"
        kill_when(proc, lambda: ledger_rows(db, unsent))
    pending = ledger_rows(db, unsent)
    assert pending, "the kill did not land with an unsent order in the ledger"
    assert fake.count("POST", "/v2/orders") == 0  # it was never sent
    with fake._lock:
        fake._faults.clear()

    before = len(fake.requests)
    refused = stratequeue(*args, env=live_env(fake), timeout=120)  # no terminal, no --yes
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "needs a confirmation" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "LIVE TRADING" in refused.stdout
    assert changes_since(fake, before) == []  # not one order request reached the broker
    assert ledger_rows(db, unsent) == pending  # and the ledger still holds the order


def paper_env(fake: FakeAlpaca) -> dict[str, str]:
    env = dict(fake.env())
    for var in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL"):
        env.setdefault(var, "")
    return env


def test_an_order_whose_answer_was_lost_is_kept_as_sent_and_found_later(fake, tmp_path):
    """The first order is placed but its answer is lost, and Alpaca cannot show it for a while:
    the ledger keeps it open as 'unknown' (never 'rejected'), the strategy still waits for it,
    and once Alpaca shows it, it is tracked and its fill booked once."""
    fake.fail("POST", "/v2/orders", 504, after=True)  # placed, answer lost
    fake.fail("GET", "/v2/orders:by_client_order_id", 503, times=8)  # two whole lookups fail
    db = tmp_path / "unknown.sqlite"
    args = ("--strategy", EVERY_BAR, "--symbols", "AAPL", "--granularity", "1s", "--db", str(db))
    out = stratequeue(*args, "--duration", "0.2", env=paper_env(fake), timeout=120)
    assert out.returncode == 0, out.stderr
    con = sqlite3.connect(db)
    first = con.execute(
        "SELECT client_order_id FROM orders WHERE qty > 0 ORDER BY rowid LIMIT 1"
    ).fetchone()[0]
    events = [
        e
        for (e,) in con.execute(
            "SELECT status FROM order_events WHERE client_order_id=? ORDER BY id", (first,)
        )
    ]
    assert "unknown" in events and "rejected" not in events, events
    assert (
        con.execute("SELECT status FROM orders WHERE client_order_id=?", (first,)).fetchone()[0]
        == "filled"
    )
    assert fake.count("POST", "/v2/orders", client_order_id=first) == 1
    held = con.execute("SELECT COALESCE(SUM(qty), 0) FROM fill_allocations").fetchone()[0]
    with fake.exchange.lock:
        position = fake.exchange.positions.get("AAPL")
        assert held == (position.qty if position else 0.0)


def test_start_reconciles_the_brokers_open_orders_before_the_first_new_order(fake, tmp_path):
    """At start, every open order at the broker is weighed against the ledger: one placed by
    hand is EXTERNAL (reported, recorded, left alone); ours that the ledger has as done, or
    never saw, are cancelled with a line saying so; all of it before the first new order."""
    db = tmp_path / "whole.sqlite"
    args = ("--strategy", EVERY_BAR, "--symbols", "AAPL", "--granularity", "1s", "--db", str(db))
    fake.fail("POST", "/v2/orders", 403, {"code": 40310000, "message": "insufficient buying power"})
    first = stratequeue(*args, "--duration", "0.1", env=paper_env(fake), timeout=120)
    assert first.returncode == 0, first.stderr
    con = sqlite3.connect(db)
    ledger_id = con.execute("SELECT value FROM meta WHERE key='ledger_id'").fetchone()[0]
    rejected = con.execute("SELECT client_order_id FROM orders WHERE status='rejected'").fetchone()
    assert rejected, "the first run left no rejected order"
    con.close()
    price = fake.exchange.prices["AAPL"]
    far = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "gtc"}
    far["limit_price"] = str(round(price * 0.5, 2))
    # what the old code could leave: an order the ledger booked as rejected, open at Alpaca
    fake.exchange.submit({**far, "client_order_id": rejected[0]})
    never_seen = f"sq-{ledger_id}-0123456789abcdef"
    fake.exchange.submit({**far, "client_order_id": never_seen})
    fake.exchange.submit({**far, "client_order_id": "placed-by-hand-1"})

    before = len(fake.requests)
    second = stratequeue(*args, "--duration", "0.1", env=paper_env(fake), timeout=120)
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "EXTERNAL: open order placed-by-hand-1 at the broker (AAPL buy 1" in out, out
    assert f"Cancelled our order {never_seen}" in out and "the ledger never saw it" in out
    assert f"Cancelled our order {rejected[0]}" in out and "has it as rejected" in out
    with fake.exchange.lock:
        status = {o["client_order_id"]: o["status"] for o in fake.exchange.orders.values()}
    assert status["placed-by-hand-1"] == "new"  # never touched
    assert status[never_seen] == status[rejected[0]] == "canceled"
    with fake._lock:
        calls = [(r.method, r.path) for r in fake.requests[before:]]
    deletes = [i for i, (m, _) in enumerate(calls) if m == "DELETE"]
    posts = [i for i, c in enumerate(calls) if c == ("POST", "/v2/orders")]
    assert len(deletes) == 2 and posts and max(deletes) < min(posts), calls
    con = sqlite3.connect(db)
    recorded = con.execute("SELECT value FROM meta WHERE key='external_orders'").fetchone()[0]
    assert "placed-by-hand-1" in recorded
