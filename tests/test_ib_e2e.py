"""The IB plugin through the whole pipeline, against the fake TWS on 127.0.0.1 driven by the
real ib_async: demo bars -> strategy -> orders -> fills -> ledger; then SIGKILL with orders
waiting at the broker and with fills the run never saw, and a restart: no orderRef reaches the
wire twice, every fill is booked once, and the ledger's position is the account's."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import EXAMPLES, kill_when, stratequeue

pytest.importorskip("stratequeue_ib")
from stratequeue.data.demo import _Walk  # noqa: E402
from stratequeue_ib.testing import FakeTWS  # noqa: E402

SMA = str(EXAMPLES / "strategies" / "sma.py")
EVERY_BAR = str(Path(__file__).parent / "strategies" / "trade_every_bar.py")


@pytest.fixture
def tws() -> Iterator[FakeTWS]:
    with FakeTWS(accounts=("DU123456",)) as fake:
        fake.set_price("AAPL", round(_Walk("AAPL", 1).price, 2))
        yield fake


def env_for(tws: FakeTWS) -> dict[str, str]:
    return {"IB_PORT": str(tws.port), "IB_ACCOUNT": "DU123456", "TQDM_DISABLE": "1"}


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


def placed_once(tws: FakeTWS, db: Path) -> None:
    sent = [c for (c,) in rows(db, "SELECT client_order_id FROM orders WHERE qty > 0")]
    refs = {r.fields[26] for r in tws.log if r.fields[0] == "3"}
    assert refs <= set(sent), refs - set(sent)  # nothing at the broker the ledger does not know
    twice = {ref: tws.places(ref) for ref in refs if tws.places(ref) != 1}
    assert twice == {}, twice


def ledger_is_the_account(tws: FakeTWS, db: Path) -> None:
    booked = dict(rows(db, "SELECT client_order_id, SUM(qty) FROM fills GROUP BY 1"))
    executed: dict[str, float] = {}
    for e in list(tws.exchange.executions):
        executed[e.order.order_ref] = executed.get(e.order.order_ref, 0.0) + e.shares
    assert booked == executed
    held = rows(db, "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations")[0][0]
    position = [qty for _, qty, _ in tws.exchange.positions.values()]
    assert held == sum(position)


def test_paper_session_end_to_end(tws: FakeTWS, tmp_path: Path) -> None:
    db = tmp_path / "ib.sqlite"
    out = stratequeue(
        "--strategy", SMA, "--symbols", "AAPL", "--granularity", "1s", "--duration", "0.4",
        "--broker", "ib", "--paper", "--db", str(db), env=env_for(tws), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "paper via Interactive Brokers" in out.stdout
    assert "FILL AAPL" in out.stdout
    placed_once(tws, db)
    ledger_is_the_account(tws, db)


def test_live_refuses_a_paper_account_in_one_line(tws: FakeTWS, tmp_path: Path) -> None:
    out = stratequeue(
        "--strategy", SMA, "--symbols", "AAPL", "--broker", "ib", "--live", "--data-source", "demo",
        "--db", str(tmp_path / "x.sqlite"), env={**env_for(tws), "IB_ACCOUNT": "DU123456"},
        timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert tws.connections == 0


def launch(tws: FakeTWS, db: Path, duration: str, log: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    args = [exe, "--strategy", EVERY_BAR, "--symbols", "AAPL", "--granularity", "1s"]
    args += ["--broker", "ib", "--paper", "--db", str(db), "--duration", duration]
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out, env={**os.environ, **env_for(tws)})


def test_sigkill_with_orders_waiting_and_fills_unseen_then_restart(
    tws: FakeTWS, tmp_path: Path
) -> None:
    db, log = tmp_path / "killed.sqlite", tmp_path / "runs.log"

    # 0. placed at TWS, its answer not back yet: the ledger cannot know it was placed
    tws.configure(ack_delay=60.0)

    def answer_lost() -> list[str]:
        unsure = {
            c
            for (c,) in rows(
                db, "SELECT client_order_id FROM orders WHERE status IN ('pending', 'unknown')"
            )
        }
        return [
            r.fields[26] for r in list(tws.log) if r.fields[0] == "3" and r.fields[26] in unsure
        ]

    unanswered = kill_when(launch(tws, db, "1", log), answer_lost, log)
    tws.configure(ack_delay=0.0)
    placed_once(tws, db)

    # 1. accepted at TWS, not filled: market orders wait for a price nobody sets
    tws.configure(hold=True)

    def waiting() -> list[str]:
        accepted = {
            c for (c,) in rows(db, "SELECT client_order_id FROM orders WHERE status='accepted'")
        }
        return [o.order_ref for o in tws.exchange.open_orders(1) if o.order_ref in accepted]

    held = kill_when(launch(tws, db, "1", log), waiting, log)
    placed_once(tws, db)

    # 2. filled at TWS, never reported: TWS lost IB's servers (1100) while the run was killed
    tws.lose_link()
    tws.set_price("AAPL", tws.exchange.prices["AAPL"])  # the waiting orders fill now, unseen
    assert all(tws.exchange.order_by_ref(c).status == "Filled" for c in held)  # type: ignore[union-attr,attr-defined]
    tws.configure(hold=False)
    tws.restore_link()

    # the restart: nothing sent twice, the fills made while it was down booked once
    proc = launch(tws, db, "0.25", log)
    assert proc.wait(timeout=180) == 0, log.read_text()
    placed_once(tws, db)
    ledger_is_the_account(tws, db)
    for cid in unanswered:  # type: ignore[attr-defined]
        assert tws.places(cid) == 1, cid  # found at TWS by its orderRef, not sent again
    for cid in held:  # type: ignore[attr-defined]
        assert [q for (q,) in rows(db, f"SELECT qty FROM fills WHERE client_order_id='{cid}'")] == [
            1.0
        ]


def test_ib_data_source_and_broker_end_to_end(tws: FakeTWS, tmp_path: Path) -> None:
    """--data-source ib: history from reqHistoricalData, then 5-second bars folded into 1m.
    The fake's tape lies hours in the past and is pushed a minute every 0.1 s, so a 15 s run
    sees tens of live minutes; the bars are stamped in the past, which the source accepts."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    tws.seed_walk("AAPL", now - timedelta(minutes=400), 12 * 35, tws.exchange.prices["AAPL"])
    tws.live(["AAPL"], interval=0.1, burst=12)
    db = tmp_path / "ib-data.sqlite"
    out = stratequeue(
        "--strategy", SMA, "--symbols", "AAPL", "--data-source", "ib", "--granularity", "1m",
        "--broker", "ib", "--paper", "--duration", "0.25", "--db", str(db),
        env={**env_for(tws), "IB_USE_RTH": "0"}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    processed = int(out.stdout.split(" bars processed")[0].rsplit(" ", 1)[-1])
    assert processed >= 10, out.stdout + out.stderr
    history = [r for r in tws.history_requests() if r.fields[16] == "1 min"]
    assert history and {r.client_id for r in tws.log if r.fields[0] == "50"} == {2}
    assert rows(db, "SELECT COUNT(*) FROM orders")[0][0] >= 1
    placed_once(tws, db)
    ledger_is_the_account(tws, db)
