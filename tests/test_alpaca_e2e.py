"""The Alpaca plugin through the whole pipeline, against the fake Alpaca on 127.0.0.1 driven by
the real alpaca-py: demo bars -> strategy -> sized orders -> fills from trade_updates -> ledger,
rejections, and SIGKILL + restart without a duplicate order."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
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


@pytest.mark.parametrize("kill_after", [8.0, 15.0])
def test_sigkill_and_restart_never_places_an_order_twice(fake, tmp_path, kill_after):
    db = tmp_path / "killed.sqlite"
    args = ["--strategy", SMA, "--symbols", "AAPL", "--granularity", "1s", "--db", str(db)]
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    env = {**os.environ, **env_for(fake), "TQDM_DISABLE": "1"}
    with open(tmp_path / "run.log", "ab") as log:
        proc = subprocess.Popen([exe, *args, "--duration", "1"], stdout=log, stderr=log, env=env)
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    again = stratequeue(*args, "--duration", "0.15", env=env_for(fake), timeout=120)
    assert again.returncode == 0, again.stderr + (tmp_path / "run.log").read_text()
    assert "Resumed 1 strategy book(s)" in again.stdout
    sent = ledger_orders(db)
    placed = fake_orders(fake)
    assert all(n == 1 for n in placed.values()), placed
    assert set(placed) <= set(sent)  # nothing at the broker the ledger does not know
    held = (
        sqlite3.connect(db)
        .execute("SELECT COALESCE(SUM(qty), 0) FROM fill_allocations WHERE symbol='AAPL'")
        .fetchone()[0]
    )
    assert held == fake_position(fake, "AAPL")


def test_brackets_go_out_as_one_oco_and_cancels_reach_the_broker(fake, tmp_path):
    """An entry with sl/tp: after its fill the book's SL and TP become ONE OCO order at Alpaca;
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
