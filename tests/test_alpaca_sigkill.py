"""SIGKILL at the three moments that matter with a real broker, each kill checked to have landed
there, each run after it checked: no order reaches the wire twice, no fill is lost or booked
twice, and the ledger's position is the broker's. The fake Alpaca (driven by the real alpaca-py)
counts every POST per client order id, so a resent order shows even though Alpaca itself would
refuse to place it twice.

1. **accepted, not filled**: the fake fills 1.5 s after accepting, so an order waits there;
   the orders the kill caught waiting keep resting through the next two runs (each must find
   them at the broker, not send them again) and fill while the last kill has everything down.
2. **committed, not sent**: Alpaca's asset lookup (made before the POST) fails, so orders are
   committed to the ledger and wait to be sent.
3. **filled, not booked**: the fake holds its trade_updates stream, so fills happen at the
   broker and StrateQueue has not seen them. The next start books them from Alpaca's account
   activities (its own execution ids); then the held stream events are released into the new
   connection, naming the same executions differently: each is booked once.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("stratequeue_alpaca")
from stratequeue.data.demo import _Walk  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402

from .conftest import kill_when  # noqa: E402

EVERY_BAR = str(Path(__file__).parent / "strategies" / "trade_every_bar.py")


@pytest.fixture
def fake():
    with FakeAlpaca(fill_delay=1.5) as server:
        server.exchange.set_price("AAPL", round(_Walk("AAPL", 1).price, 2))
        yield server


def env_for(fake: FakeAlpaca) -> dict[str, str]:
    env = {**os.environ, **fake.env(), "TQDM_DISABLE": "1"}
    for var in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL"):
        env.setdefault(var, "")
    return env


def launch(fake: FakeAlpaca, db: Path, duration: str, log: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    args = [exe, "--strategy", EVERY_BAR, "--symbols", "AAPL", "--granularity", "1s"]
    args += ["--db", str(db), "--duration", duration]
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out, env=env_for(fake))


def rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []


def at_fake(fake: FakeAlpaca) -> dict[str, tuple[str, float]]:
    """client order id -> (status, filled quantity) of every top-level order at the fake."""
    with fake.exchange.lock:
        return {
            o["client_order_id"]: (o["status"], float(o["filled_qty"]))
            for o in fake.exchange.orders.values()
            if not o.get("_leg")
        }


def check(fake: FakeAlpaca, db: Path, *, settled: bool) -> None:
    """What must hold after any run, killed or not."""
    sent = [c for (c,) in rows(db, "SELECT client_order_id FROM orders WHERE qty > 0")]
    with fake._lock:
        posted = [r.json.get("client_order_id") for r in fake.requests if r.method == "POST"]
    counts: dict[str, int] = defaultdict(int)
    for cid in posted:
        counts[cid] += 1
    assert all(n == 1 for n in counts.values()), {c: n for c, n in counts.items() if n > 1}
    broker = at_fake(fake)
    assert set(broker) <= set(sent)  # nothing at the broker the ledger does not know
    booked = dict(rows(db, "SELECT client_order_id, SUM(qty) FROM fills GROUP BY client_order_id"))
    for cid, qty in booked.items():
        assert qty <= broker[cid][1] + 1e-9, (cid, qty, broker[cid])  # never booked twice
    if settled:  # a run that ended normally has booked every fill the broker made
        for cid, (_status, filled) in broker.items():
            assert booked.get(cid, 0.0) == filled, (cid, booked.get(cid), filled)
        held = rows(db, "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations")[0][0]
        with fake.exchange.lock:
            position = fake.exchange.positions.get("AAPL")
            assert held == (position.qty if position else 0.0)


def test_sigkill_at_each_point_of_an_orders_life_loses_nothing_and_repeats_nothing(fake, tmp_path):
    db = tmp_path / "killed.sqlite"
    log = tmp_path / "runs.log"

    # 1. accepted at Alpaca, not filled yet
    def accepted_not_filled() -> list[str]:
        open_in_ledger = {
            c
            for (c,) in rows(
                db, "SELECT client_order_id FROM orders WHERE status='accepted' AND qty > 0"
            )
        }
        return [c for c, (s, _) in at_fake(fake).items() if s == "new" and c in open_in_ledger]

    waiting = kill_when(launch(fake, db, "1", log), accepted_not_filled, log)
    assert all(at_fake(fake)[c][1] == 0 for c in waiting)  # killed while they waited
    with fake.exchange.lock:  # and they keep waiting through the next runs (a resting order)
        for cid in waiting:  # type: ignore[union-attr]
            fake.exchange.by_client_id(cid)["_fills_from"] = float("inf")
    check(fake, db, settled=False)

    # 2. committed to the ledger, not sent
    fake.fail("GET", "/v2/assets/AAPL", 503, times=100_000)

    def committed_not_sent() -> list[str]:
        pending = rows(db, "SELECT client_order_id FROM orders WHERE status='pending' AND qty > 0")
        return [c for (c,) in pending if fake.posts(c) == 0]

    unsent = kill_when(launch(fake, db, "1", log), committed_not_sent, log)
    assert unsent and all(fake.posts(c) == 0 for c in unsent)  # type: ignore[union-attr]
    with fake._lock:
        fake._faults.clear()
    check(fake, db, settled=False)

    # 3. filled at Alpaca, not booked: the fills do not reach StrateQueue
    fake.hold_stream()

    def filled_not_booked() -> list[str]:
        booked = dict(rows(db, "SELECT client_order_id, SUM(qty) FROM fills GROUP BY 1"))
        return [c for c, (s, q) in at_fake(fake).items() if s == "filled" and not booked.get(c)]

    unbooked = kill_when(launch(fake, db, "1", log), filled_not_booked, log)
    check(fake, db, settled=False)

    # The restart: every unsent order goes out once, every missed fill is booked once (from the
    # account activities), then the held stream events arrive in the new connection.
    for cid in waiting:  # type: ignore[union-attr]
        fake.fill(cid)  # the resting orders fill while nothing watches
    seen = len(log.read_text())
    proc = launch(fake, db, "0.25", log)
    deadline = time.monotonic() + 120
    while fake.trade_listeners < 1 or "not watching" not in log.read_text()[seen:]:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    released = fake.release_stream()
    assert released, "no held stream event was delivered again"
    assert proc.wait(timeout=180) == 0, log.read_text()
    check(fake, db, settled=True)
    for cid in unsent:  # type: ignore[union-attr]
        assert fake.posts(cid) == 1
    for cid in [*waiting, *unbooked]:  # type: ignore[misc]
        fills = rows(db, f"SELECT qty FROM fills WHERE client_order_id='{cid}'")
        assert [q for (q,) in fills] == [at_fake(fake)[cid][1]], (cid, fills)
