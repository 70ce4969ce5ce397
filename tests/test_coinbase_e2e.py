"""The Coinbase plugin through the whole pipeline, against the fake Coinbase (HTTPS, every
request token checked): demo bars -> strategy -> orders -> fills -> ledger, live. A rejection
for insufficient funds is shown and the run goes on; SIGKILL with orders waiting at Coinbase
and with orders committed but unsent, then a restart: no client_order_id is created twice at
the wire, every fill is booked once, and the ledger's position is the account's."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import kill_when, stratequeue

pytest.importorskip("stratequeue_coinbase")
from stratequeue.data.demo import _Walk  # noqa: E402
from stratequeue_coinbase.testing import FakeCoinbase  # noqa: E402

EVERY_BAR = str(Path(__file__).parent / "strategies" / "trade_every_bar.py")
ORDERS = "/api/v3/brokerage/orders"
LIVE = ("--symbols", "BTC-USD", "--granularity", "1s", "--broker", "coinbase", "--live", "--yes")
LIVE += ("--data-source", "demo")


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.exchange.set_price("BTC-USD", round(_Walk("BTC-USD", 1).price, 2))
        yield server


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


def created_once(fake: FakeCoinbase, db: Path) -> None:
    sent = {c for (c,) in rows(db, "SELECT client_order_id FROM orders WHERE qty > 0")}
    at_wire = {r.body["client_order_id"] for r in list(fake.log) if r.path == ORDERS and r.body}
    assert at_wire <= sent, at_wire - sent  # nothing at Coinbase the ledger does not know
    twice = {c: n for c, n in fake.exchange.posts.items() if n != 1}
    assert twice == {}, twice


def ledger_is_the_account(fake: FakeCoinbase, db: Path) -> None:
    booked = dict(rows(db, "SELECT client_order_id, SUM(qty) FROM fills GROUP BY 1"))
    executed: dict[str, float] = {}
    with fake.exchange.lock:
        for f in fake.exchange.fills:
            cid = fake.exchange.orders[f["order_id"]]["client_order_id"]
            executed[cid] = executed.get(cid, 0.0) + float(f["size"])
        held = fake.exchange.balances.get("BTC", 0.0)
    assert booked == executed
    assert rows(db, "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations")[0][0] == held


def test_a_live_session_trades_and_never_shows_the_key(fake: FakeCoinbase, tmp_path: Path) -> None:
    db = tmp_path / "cb.sqlite"
    out = stratequeue(
        "--strategy", EVERY_BAR, *LIVE, "--duration", "0.1", "--db", str(db),
        env=fake.env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "via Coinbase Advanced Trade (LIVE)" in out.stdout
    assert "FILL BTC-USD BUY 1" in out.stdout
    created_once(fake, db)
    ledger_is_the_account(fake, db)
    shown = out.stdout + out.stderr + db.read_bytes().decode("latin-1")
    body = "".join(line for line in fake.key.pem.splitlines() if "PRIVATE KEY" not in line)
    assert all(body[i : i + 12] not in shown for i in range(len(body) - 12))
    assert "eyJ" not in shown  # no request token


def test_an_insufficient_funds_rejection_is_shown_kept_and_the_run_goes_on(
    fake: FakeCoinbase, tmp_path: Path
) -> None:
    db = tmp_path / "cb.sqlite"
    fake.exchange.reject_next.append("INSUFFICIENT_FUND")
    out = stratequeue(
        "--strategy", EVERY_BAR, *LIVE, "--duration", "0.1", "--db", str(db),
        env=fake.env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    shown = out.stdout + out.stderr
    assert "INSUFFICIENT_FUND" in shown, shown
    ((cid, message),) = rows(
        db, "SELECT client_order_id, message FROM orders WHERE status='rejected'"
    )
    assert "INSUFFICIENT_FUND" in message
    assert rows(db, f"SELECT COUNT(*) FROM fills WHERE client_order_id='{cid}'") == [(0,)]
    assert "FILL BTC-USD BUY 1" in out.stdout  # later orders were placed and filled
    created_once(fake, db)
    ledger_is_the_account(fake, db)


def launch(fake: FakeCoinbase, db: Path, duration: str, log: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    args = [exe, "--strategy", EVERY_BAR, *LIVE, "--db", str(db), "--duration", duration]
    env = {**os.environ, **fake.env(), "TQDM_DISABLE": "1"}
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out, env=env)


def test_sigkill_with_orders_waiting_and_unsent_then_restart_creates_nothing_twice(
    fake: FakeCoinbase, tmp_path: Path
) -> None:
    db, log = tmp_path / "killed.sqlite", tmp_path / "runs.log"

    # 0. placed (and filled) at Coinbase, its answer not back: only a lookup by client order id
    # finds it, and the restart must find it rather than send it again
    fake.answer_delay = 60.0

    def answer_lost() -> list[str]:
        unsure = {
            c
            for (c,) in rows(
                db, "SELECT client_order_id FROM orders WHERE status IN ('pending', 'unknown')"
            )
        }
        return [c for c in list(fake.exchange.by_cid) if c in unsure]

    unanswered = kill_when(launch(fake, db, "1", log), answer_lost, log)
    fake.answer_delay = 0.0
    created_once(fake, db)

    # 1. committed to the ledger, not sent: the product endpoint (read before the POST) fails
    fake.fail("GET", "/api/v3/brokerage/products/BTC-USD", 503, times=100_000)

    def committed_not_sent() -> list[str]:
        pending = rows(db, "SELECT client_order_id FROM orders WHERE status='pending' AND qty > 0")
        return [c for (c,) in pending if fake.exchange.posts[c] == 0]

    unsent = kill_when(launch(fake, db, "1", log), committed_not_sent, log)
    assert unsent
    fake.faults.clear()
    created_once(fake, db)

    # 2. accepted at Coinbase, not filled: market orders wait for a price nobody sets
    fake.exchange.fill_delay = True

    def waiting() -> list[str]:
        accepted = {
            c for (c,) in rows(db, "SELECT client_order_id FROM orders WHERE status='accepted'")
        }
        with fake.exchange.lock:
            return [
                o["client_order_id"]
                for o in fake.exchange.orders.values()
                if o["status"] == "OPEN" and o["client_order_id"] in accepted
            ]

    held = kill_when(launch(fake, db, "1", log), waiting, log)
    created_once(fake, db)

    # the waiting orders fill while nothing runs; the restart books them once and sends the
    # unsent ones once
    fake.exchange.fill_delay = False
    fake.exchange.set_price("BTC-USD", fake.exchange.products["BTC-USD"].price)
    proc = launch(fake, db, "0.25", log)
    assert proc.wait(timeout=180) == 0, log.read_text()
    created_once(fake, db)
    ledger_is_the_account(fake, db)
    for cid in held:  # type: ignore[attr-defined]
        assert fake.exchange.posts[cid] == 1
        assert rows(db, f"SELECT SUM(qty) FROM fills WHERE client_order_id='{cid}'") == [(1.0,)]
    for cid in unanswered:  # type: ignore[attr-defined]
        assert fake.exchange.posts[cid] == 1, cid  # found by its client order id
        assert rows(db, f"SELECT SUM(qty) FROM fills WHERE client_order_id='{cid}'") == [(1.0,)]
    for cid in unsent:  # type: ignore[attr-defined]
        assert fake.exchange.posts[cid] <= 1


def test_paper_with_coinbase_is_the_local_paper_broker_and_says_so(
    fake: FakeCoinbase, tmp_path: Path
) -> None:
    out = stratequeue(
        "--strategy", EVERY_BAR, "--symbols", "BTC-USD", "--granularity", "1s",
        "--broker", "coinbase", "--paper", "--duration", "0.05", "--data-source", "demo",
        "--db", str(tmp_path / "paper.sqlite"), env=fake.env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    shown = out.stdout + out.stderr
    assert "Coinbase Advanced Trade has no paper trading: paper trading on the local paper" in shown
    assert "FILL BTC-USD BUY 1" in out.stdout
    assert fake.log == []  # nothing reached Coinbase


def test_broker_setup_explains_the_key_and_checks_it(fake: FakeCoinbase) -> None:
    out = stratequeue("--broker-setup", "coinbase", env=fake.env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert "portal.cdp.coinbase.com" in out.stdout
    assert "✅ Live credentials work" in out.stdout and "View and Trade permitted" in out.stdout
    assert fake.count("GET", "/api/v3/brokerage/key_permissions") == 1
    assert fake.count("POST", ORDERS) == 0  # nothing sent
    fake.can_trade = False
    refused = stratequeue("--broker-setup", "coinbase", env=fake.env(), timeout=60)
    assert "❌ Live credentials were rejected" in refused.stdout
    assert "cannot trade" in refused.stdout


def test_the_coinbase_data_source_warms_a_paper_run_up_with_no_key(
    fake: FakeCoinbase, tmp_path: Path
) -> None:
    public = {k: v for k, v in fake.env().items() if not k.startswith("COINBASE_API")}
    out = stratequeue(
        "--strategy", str(Path(__file__).parents[1] / "examples" / "strategies" / "sma.py"),
        "--symbols", "BTC-USD", "--data-source", "coinbase", "--granularity", "1m",
        "--duration", "0.05", "--db", str(tmp_path / "data.sqlite"),
        env={**public, "COINBASE_API_KEY": "", "COINBASE_API_SECRET": ""}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "local paper broker" in out.stdout + out.stderr
    candles = [r for r in fake.log if r.path.endswith("/candles")]
    assert candles and all(r.path.startswith("/api/v3/brokerage/market/") for r in candles)


def test_live_without_broker_picks_coinbase_not_its_alias_too(
    fake: FakeCoinbase, tmp_path: Path
) -> None:
    out = stratequeue(
        "--strategy", EVERY_BAR, "--symbols", "BTC-USD", "--granularity", "1s", "--live", "--yes", "--data-source", "demo",
        "--duration", "0.05", "--db", str(tmp_path / "auto.sqlite"), env=fake.env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "LIVE via Coinbase Advanced Trade" in out.stdout
    pro = stratequeue(
        "--strategy", EVERY_BAR, "--symbols", "BTC-USD", "--granularity", "1s", "--live", "--yes", "--data-source", "demo",
        "--broker", "coinbase-pro", "--duration", "0.05", "--db", str(tmp_path / "pro.sqlite"),
        env=fake.env(), timeout=120,
    )  # fmt: skip
    assert pro.returncode == 0, pro.stdout + pro.stderr
    assert "Coinbase Pro was replaced by Coinbase Advanced Trade" in pro.stdout + pro.stderr


def test_a_1000_dollar_sleeve_trades_fractional_btc_and_exits_sell_exactly_what_it_holds(
    tmp_path: Path,
) -> None:
    half = str(Path(__file__).parent / "strategies" / "half_every_other_bar.py")
    db = tmp_path / "small.sqlite"
    with FakeCoinbase(cash=1_000.0) as fake:
        fake.exchange.set_price("BTC-USD", round(_Walk("BTC-USD", 1).price, 2))
        out = stratequeue(
            "--strategy", half, *LIVE, "--duration", "0.1", "--db", str(db),
            env=fake.env(), timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        with fake.exchange.lock:
            sizes = [
                (o["side"], o["order_configuration"]["market_market_ioc"]["base_size"])
                for o in sorted(fake.exchange.orders.values(), key=lambda o: o["created_time"])
            ]
        assert len(sizes) >= 4, out.stdout
        for (buy, bought), (sell, sold) in zip(sizes[::2], sizes[1::2], strict=False):
            assert (buy, sell) == ("BUY", "SELL") and bought == sold, sizes
            assert 0 < float(bought) < 1  # half of $1,000 at ~$60,000: a fraction of a BTC
        ledger_is_the_account(fake, db)
