"""The Alpaca plugin through the whole pipeline, against the fake Alpaca on 127.0.0.1 driven by
the real alpaca-py: demo bars -> strategy -> sized orders -> fills from trade_updates -> ledger,
rejections, brackets, restarts (SIGKILL at chosen moments: test_alpaca_sigkill.py)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from .conftest import EXAMPLES, stratequeue

pytest.importorskip("stratequeue_alpaca")
from stratequeue.data.demo import _Walk  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402

SMA = str(EXAMPLES / "strategies" / "sma.py")


@pytest.fixture
def fake():
    with FakeAlpaca() as server:
        # Fill at the demo feed's price level, so that books and account agree.
        server.exchange.set_price("AAPL", round(_Walk("AAPL", 1).price, 2))
        yield server


def env_for(fake: FakeAlpaca) -> dict[str, str]:
    env = dict(fake.env())
    for var in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL"):
        env.setdefault(var, "")
    return env


def ledger_orders(db: Path) -> list[str]:
    return [
        c
        for (c,) in sqlite3.connect(db).execute("SELECT client_order_id FROM orders WHERE qty > 0")
    ]


def fake_orders(fake: FakeAlpaca) -> Counter[str]:
    with fake.exchange.lock:
        return Counter(
            o["client_order_id"] for o in fake.exchange.orders.values() if not o.get("_leg")
        )


def fake_position(fake: FakeAlpaca, symbol: str) -> float:
    with fake.exchange.lock:
        pos = fake.exchange.positions.get(symbol.replace("/", ""))  # Alpaca keys BTCUSD
        return float(pos.qty) if pos is not None else 0.0


def test_paper_session_end_to_end(fake, tmp_path):
    db = tmp_path / "alpaca.sqlite"
    out = stratequeue(
        "--strategy",
        SMA,
        "--symbols",
        "AAPL",
        "--granularity",
        "1s",
        "--duration",
        "0.4",
        "--db",
        str(db),
        env=env_for(fake),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "via Alpaca (paper)" in out.stdout
    assert "FILL AAPL" in out.stdout
    con = sqlite3.connect(db)
    sent = ledger_orders(db)
    assert sent and fake_orders(fake) == Counter(sent)  # each ledger order placed exactly once
    held = con.execute(
        "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations WHERE symbol='AAPL'"
    ).fetchone()[0]
    assert held == fake_position(fake, "AAPL")
    key, secret = fake.env()["PAPER_KEY"], fake.env()["PAPER_SECRET"]
    log = tmp_path / "stratequeue.log"  # the log file kept next to the ledger
    assert log.exists()
    blob = db.read_bytes() + log.read_bytes() + out.stdout.encode() + out.stderr.encode()
    assert key.encode() not in blob and secret.encode() not in blob


def test_a_rejected_order_is_shown_kept_and_the_run_goes_on(fake, tmp_path):
    fake.fail(
        "POST",
        "/v2/orders",
        403,
        {"code": 40310000, "message": "insufficient buying power"},
        times=1,
    )
    db = tmp_path / "reject.sqlite"
    out = stratequeue(
        "--strategy",
        SMA,
        "--symbols",
        "AAPL",
        "--granularity",
        "1s",
        "--duration",
        "0.5",
        "--db",
        str(db),
        env=env_for(fake),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "REJECTED" in out.stdout and "insufficient buying power" in out.stdout
    con = sqlite3.connect(db)
    rejected = con.execute("SELECT message FROM orders WHERE status='rejected'").fetchall()
    assert rejected and "insufficient buying power" in rejected[0][0]
    assert "Traceback" not in out.stderr


def test_brackets_are_at_the_broker_from_the_entry_fill_and_edits_replace_the_legs(fake, tmp_path):
    """An entry with sl/tp is ONE bracket order at Alpaca: its stop-loss leg works from the
    entry's fill on (the fake's fill event already shows it), before StrateQueue has seen the
    fill. The book's SL/TP orders map onto the legs (nothing else is sent for them); a trade.sl
    edit is a PATCH of the stop leg; the take-profit leg's fill (<cid>/tp) closes the book's
    trade and Alpaca cancels the stop. Canceled orders are canceled at Alpaca, and a restart
    rebuilds the same books from the ledger."""
    import threading

    base = fake.exchange.prices["AAPL"]
    stop = threading.Event()

    def entries_filled() -> int:
        with fake.exchange.lock:
            return sum(
                1
                for o in fake.exchange.orders.values()
                if o["order_class"] == "bracket" and not o.get("_leg") and o["status"] == "filled"
            )

    def move_price() -> None:  # the 1st and 3rd trades: up 2% (take-profit) and back; the 2nd
        for entry in (1, 3):  # is closed by the strategy, the 4th stays open across the restart
            while entries_filled() < entry:
                if stop.wait(0.1):
                    return
            if stop.wait(1.5):  # the book sees the fill and edits the stop first
                return
            fake.exchange.set_price("AAPL", round(base * 1.02, 2))
            if stop.wait(1.0):
                return
            fake.exchange.set_price("AAPL", base)

    mover = threading.Thread(target=move_price, daemon=True)
    mover.start()
    db = tmp_path / "bracket.sqlite"
    strategy = str(Path(__file__).parent / "strategies" / "bracket_edit.py")
    args = ("--strategy", strategy, "--symbols", "AAPL", "--granularity", "1s", "--db", str(db))
    try:
        out = stratequeue(*args, "--duration", "0.5", env=env_for(fake), timeout=120)
    finally:
        stop.set()
        mover.join()
    assert out.returncode == 0, out.stderr
    posts = [r.json for r in fake.requests if r.method == "POST" and r.path == "/v2/orders"]
    entries = [b for b in posts if b.get("order_class") == "bracket"]
    assert entries, posts
    # No OCO, no stand-alone stop or take-profit sent after a fill: the only sells are the
    # position.close() orders, and each went out after both legs of its bracket were canceled
    # (working legs hold the shares: Alpaca would refuse the sell).
    closes = [b for b in posts if b["side"] == "sell"]
    assert all((b["type"], b.get("order_class")) == ("market", None) for b in closes), closes
    with fake.exchange.lock:
        legs = {o["id"]: o for o in fake.exchange.orders.values() if o.get("_leg")}
    deletes = [
        (i, r.path.rsplit("/", 1)[1])
        for i, r in enumerate(fake.requests)
        if r.method == "DELETE" and r.path.rsplit("/", 1)[1] in legs
    ]
    assert closes and len(deletes) == 2 * len(closes), (closes, deletes)
    for body in closes:
        at = next(
            i
            for i, r in enumerate(fake.requests)
            if r.json and r.json.get("client_order_id") == body["client_order_id"]
        )
        assert sum(1 for i, _ in deletes if i < at) >= 2 * (closes.index(body) + 1)
        placed = fake.exchange.by_client_id(body["client_order_id"])
        assert placed["status"] == "filled", placed
    for body in entries:
        assert body["take_profit"]["limit_price"] > body["stop_loss"]["stop_price"]
    fills = {
        e["order"]["client_order_id"]: e["order"]
        for e in fake.events
        if e["event"] == "fill" and e["order"]["order_class"] == "bracket"
    }
    for body in entries:  # the legs worked from the entry's fill, as the fill event shows
        legs = {leg["type"]: leg for leg in fills[body["client_order_id"]]["legs"]}
        assert (legs["stop"]["status"], float(legs["stop"]["stop_price"])) == (
            "new",
            body["stop_loss"]["stop_price"],
        )
        assert legs["limit"]["status"] == "new"
    # Each trade.sl edit: one PATCH of that bracket's stop leg with the book's new stop.
    con = sqlite3.connect(db)
    edits = con.execute(
        "SELECT client_order_id, stop_price FROM intents WHERE action='replace'"
    ).fetchall()
    patches = [r for r in fake.requests if r.method == "PATCH"]
    assert edits and len(patches) == len(edits)
    with fake.exchange.lock:
        stop_legs = {
            o["id"]: fake.exchange.get(o["_leg"])["client_order_id"] + "/sl"
            for o in fake.exchange.orders.values()
            if o.get("_leg") and o["type"] == "stop"
        }
    assert sorted((stop_legs[r.path.rsplit("/", 1)[1]], r.json) for r in patches) == sorted(
        (cid, {"stop_price": stop}) for cid, stop in edits
    )
    assert any(r.method == "DELETE" and r.path.startswith("/v2/orders/") for r in fake.requests)
    closed_by_tp = con.execute(
        "SELECT COUNT(*) FROM fills f JOIN orders o USING (client_order_id) "
        "WHERE f.client_order_id LIKE '%/tp' AND o.order_class='leg' AND o.status='filled'"
    ).fetchone()[0]
    assert closed_by_tp >= 1, out.stdout
    closed = con.execute("SELECT COUNT(*) FROM trades WHERE status='closed'").fetchone()[0]
    assert closed >= 1
    siblings = con.execute(
        "SELECT COUNT(*) FROM orders WHERE order_class='leg' AND client_order_id LIKE '%/sl' "
        "AND status='canceled'"
    ).fetchone()[0]
    assert siblings >= closed_by_tp
    assert "no longer holds" not in out.stderr
    # A take-profit may fill after the run's last look at the broker: the next start applies it,
    # and the rebuilt books map their SL/TP orders onto the same legs (no order sent for them).
    sent = len(posts)
    again = stratequeue(*args, "--duration", "0.05", env=env_for(fake), timeout=120)
    assert again.returncode == 0, again.stderr
    assert "no longer holds" not in again.stderr
    after = [r.json for r in fake.requests if r.method == "POST" and r.path == "/v2/orders"]
    assert not [b for b in after[sent:] if b.get("order_class") == "oco"], after[sent:]
    held = con.execute(
        "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations WHERE symbol='AAPL'"
    ).fetchone()[0]
    assert held == fake_position(fake, "AAPL"), again.stdout + again.stderr
    # Every leg the ledger knows is in the state of the fake's leg (an open one found at the
    # restart under its leg name, not sent again nor written off).
    states = {"new": "accepted", "held": "accepted", "filled": "filled", "canceled": "canceled"}
    with fake.exchange.lock:
        at_fake = {
            fake.exchange.get(o["_leg"])["client_order_id"]
            + ("/sl" if o["type"] == "stop" else "/tp"): states[o["status"]]
            for o in fake.exchange.orders.values()
            if o.get("_leg") and o["status"] != "replaced"
        }
    in_ledger = dict(
        con.execute("SELECT client_order_id, status FROM orders WHERE order_class='leg'")
    )
    assert "accepted" in in_ledger.values()  # a trade was open across the restart
    assert in_ledger == {cid: at_fake[cid] for cid in in_ledger}


def test_a_stop_entry_keeps_the_oco_exit_and_cancels_reach_the_broker(fake, tmp_path):
    """A stop entry with sl/tp (no bracket at Alpaca: its entry is market or limit): after its fill the book's SL and TP become ONE OCO order at Alpaca;
    when the price reaches the TP the fill comes back as <cid>/tp and the strategy's book closes
    the trade. Canceled orders are canceled at Alpaca."""
    import threading

    base = fake.exchange.prices["AAPL"]
    stop = threading.Event()

    def move_price() -> None:  # up 2% and back, so that the take-profit triggers
        while not stop.wait(3.0):
            fake.exchange.set_price("AAPL", round(base * 1.02, 2))
            if stop.wait(1.5):
                break
            fake.exchange.set_price("AAPL", base)

    mover = threading.Thread(target=move_price, daemon=True)
    mover.start()
    db = tmp_path / "oco.sqlite"
    strategy = str(Path(__file__).parent / "strategies" / "bracket_and_cancel.py")
    try:
        out = stratequeue(
            "--strategy",
            strategy,
            "--symbols",
            "AAPL",
            "--granularity",
            "1s",
            "--duration",
            "0.3",
            "--db",
            str(db),
            env=env_for(fake),
            timeout=120,
        )
    finally:
        stop.set()
        mover.join()
    assert out.returncode == 0, out.stderr
    assert fake.count("POST", "/v2/orders", order_class="oco") >= 1
    assert fake.count("POST", "/v2/orders", order_class="bracket") == 0
    assert any(r.method == "DELETE" and r.path.startswith("/v2/orders/") for r in fake.requests)
    con = sqlite3.connect(db)
    tp_fills = con.execute(
        "SELECT COUNT(*) FROM fills WHERE client_order_id LIKE '%/tp'"
    ).fetchone()[0]
    assert tp_fills >= 1
    # A take-profit may fill after the run's last look at the broker: the next start applies it.
    again = stratequeue(
        "--strategy",
        strategy,
        "--symbols",
        "AAPL",
        "--granularity",
        "1s",
        "--duration",
        "0.05",
        "--db",
        str(db),
        env=env_for(fake),
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    held = con.execute(
        "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations WHERE symbol='AAPL'"
    ).fetchone()[0]
    assert held == fake_position(fake, "AAPL"), again.stdout + again.stderr


def test_live_needs_live_credentials_and_a_confirmation(fake, tmp_path):
    db = str(tmp_path / "live.sqlite")
    args = ("--strategy", SMA, "--symbols", "AAPL", "--granularity", "1s", "--live", "--db", db)
    args += ("--data-source", "demo")
    paper_only = stratequeue(*args, env=env_for(fake), timeout=60)
    assert paper_only.returncode != 0 and "live" in paper_only.stderr.lower()
    assert "Traceback" not in paper_only.stderr
    live_env = {
        **env_for(fake),
        "PAPER_KEY": "",
        "PAPER_SECRET": "",
        "ALPACA_API_KEY": fake.env()["PAPER_KEY"],
        "ALPACA_SECRET_KEY": fake.env()["PAPER_SECRET"],
        "ALPACA_BASE_URL": fake.url,
    }
    refused = stratequeue(*args, env=live_env, timeout=60)  # no terminal, no --yes
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "needs a confirmation" in refused.stderr
    assert "LIVE TRADING" in refused.stdout and fake.exchange.account_number in refused.stdout
    assert "trades real money on SIMULATED prices" in refused.stdout
    assert fake.count("POST", "/v2/orders") == 0
    # Without --data-source, a live run on a broker with no bars of its own is refused before
    # anything connects: the demo feed's invented prices are never a silent default for money.
    implicit = stratequeue(*args[:-2], "--yes", env=live_env, timeout=60)
    assert implicit.returncode == 2, implicit.stdout + implicit.stderr
    assert len(implicit.stderr.strip().splitlines()) == 1, implicit.stderr
    assert "--live needs real prices: pass --data-source NAME" in implicit.stderr
    assert "LIVE TRADING" not in implicit.stdout
    assert fake.count("POST", "/v2/orders") == 0


def test_broker_setup_and_status_check_the_keys_without_showing_them(fake):
    setup = stratequeue("--broker-setup", "alpaca", env=env_for(fake), timeout=60)
    assert setup.returncode == 0, setup.stderr
    assert f"Paper credentials work: account {fake.exchange.account_number}" in setup.stdout
    status = stratequeue("--broker-status", env=env_for(fake), timeout=60)
    assert "Paper Ready" in status.stdout
    secret = fake.env()["PAPER_SECRET"]
    for out in (setup, status):
        assert secret not in out.stdout + out.stderr and fake.env()["PAPER_KEY"] not in out.stdout


def test_crypto_paper_session_trades_fractions(fake, tmp_path):
    fake.exchange.set_price("BTC/USD", round(_Walk("BTC/USD", 1).price, 2))
    db = tmp_path / "crypto.sqlite"
    args = ("--strategy", SMA, "--symbols", "BTC/USD", "--granularity", "1s", "--db", str(db))
    out = stratequeue(*args, "--duration", "0.35", env=env_for(fake), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "FILL BTC/USD" in out.stdout
    con = sqlite3.connect(db)
    qtys = [q for (q,) in con.execute("SELECT qty FROM orders WHERE symbol='BTC/USD' AND qty > 0")]
    assert qtys and any(q != int(q) for q in qtys)  # fractional units
    held = con.execute("SELECT COALESCE(SUM(qty), 0) FROM fill_allocations").fetchone()[0]
    assert held == pytest.approx(fake_position(fake, "BTC/USD"), abs=1e-9)
    again = stratequeue(*args, "--duration", "0.05", env=env_for(fake), timeout=120)
    assert again.returncode == 0, again.stderr
    assert "EXTERNAL" not in again.stdout  # the broker's BTCUSD position is the strategy's


def test_partial_fills_reach_the_book_and_survive_a_restart(tmp_path):
    """Every order fills in two parts: a fraction order, sent as whole shares, is held by the
    book as those shares, so both parts land in it; a restart rebuilds the same book."""
    with FakeAlpaca(partial_fills=2) as fake:
        fake.exchange.set_price("AAPL", round(_Walk("AAPL", 1).price, 2))
        db = tmp_path / "partial.sqlite"
        args = ("--strategy", SMA, "--symbols", "AAPL", "--granularity", "1s", "--db", str(db))
        out = stratequeue(*args, "--duration", "0.35", env=env_for(fake), timeout=120)
        assert out.returncode == 0, out.stderr
        con = sqlite3.connect(db)
        partial = con.execute(
            "SELECT client_order_id FROM fills GROUP BY client_order_id HAVING COUNT(*) >= 2"
        ).fetchall()
        assert partial, "no order was filled in parts"
        assert "no longer holds" not in out.stderr
        held = con.execute("SELECT COALESCE(SUM(qty), 0) FROM fill_allocations").fetchone()[0]
        assert held == fake_position(fake, "AAPL")
        again = stratequeue(*args, "--duration", "0.05", env=env_for(fake), timeout=120)
        assert again.returncode == 0, again.stderr  # the rebuilt book agrees with the fills
