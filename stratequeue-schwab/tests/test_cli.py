"""The Schwab broker through the stratequeue command, against the fake Schwab: a refused login
stops a --live run before any order; a run that trades shows no token or secret anywhere
(output, log file, ledger, journal); the seed's TDA variables and the tda alias."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from stratequeue_schwab.testing import FakeSchwab

REPO = Path(__file__).resolve().parents[2]
EVERY_BAR = str(REPO / "tests" / "strategies" / "trade_every_bar.py")


def _run(fake: FakeSchwab, tmp_path: Path, env: dict[str, str], *extra: str):
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    args = ["--strategy", EVERY_BAR, "--symbols", "AAPL", "--granularity", "1s"]
    args += ["--duration", "0.06", "--live", "--yes", "--db", str(tmp_path / "ledger.sqlite")]
    args += ["--data-source", "demo"]
    full = {**os.environ, "TQDM_DISABLE": "1", "STRATEQUEUE_HOME": str(tmp_path / "home"), **env}
    return subprocess.run(
        [exe, *args, *extra], capture_output=True, text=True, timeout=120, env=full, cwd=tmp_path
    )


def test_a_refused_login_stops_a_live_run_before_any_order(fake: FakeSchwab, tmp_path) -> None:
    token = tmp_path / "token.json"
    fake.write_token_file(token, access_expired=True)
    fake.expire_refresh()
    out = _run(fake, tmp_path, fake.env(token), "--broker", "schwab")
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if "--broker-setup schwab" in line]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert fake.order_posts == []
    assert [r for r in fake.requests if not r.startswith("POST /v1/oauth/token")] == []


def test_a_live_run_shows_no_token_or_secret_anywhere(fake: FakeSchwab, tmp_path) -> None:
    fake.exchange.set_price("AAPL", 100.0)
    fake.exchange.fill_market_at_once = True
    token = tmp_path / "token.json"
    first = fake.write_token_file(token, access_expired=True)  # the run refreshes it
    out = _run(fake, tmp_path, fake.env(token), "--broker", "schwab", "--verbose")
    assert out.returncode == 0, out.stderr
    assert len(fake.order_posts) >= 2, fake.requests  # it traded
    assert fake.requests[0] == "POST /v1/oauth/token"
    with fake._lock:
        issued = set(fake.access) | set(fake.refresh_tokens)
    secrets = {fake.app_secret, first["token"]["refresh_token"], first["token"]["id_token"]}
    secrets |= issued | {first["token"]["access_token"]}
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != token]
    assert any(p.name == "ledger.sqlite" for p in files)
    blobs = {"stdout": out.stdout.encode(), "stderr": out.stderr.encode()}
    blobs |= {str(p): p.read_bytes() for p in files}
    for where, blob in blobs.items():
        for secret in secrets:
            at = blob.find(secret.encode())
            seen = blob[max(0, at - 120) : at].decode(errors="replace")
            assert at < 0, f"a token or secret in {where}, after: {seen!r}"


def test_the_seeds_tda_variables_and_the_tda_alias(fake: FakeSchwab, tmp_path) -> None:
    fake.exchange.set_price("AAPL", 100.0)
    token = tmp_path / "token.json"
    fake.write_token_file(token)
    env = fake.env(token)
    env["TDA_CLIENT_ID"] = env.pop("SCHWAB_APP_KEY")
    env["TDA_ACCOUNT_ID"] = env.pop("SCHWAB_ACCOUNT")
    env["TDA_REFRESH_TOKEN"] = "an-old-tda-refresh-token"
    out = _run(fake, tmp_path, env, "--broker", "tda")
    assert out.returncode == 0, out.stderr
    said = out.stdout + out.stderr
    for words in (
        "TDA_CLIENT_ID is used as SCHWAB_APP_KEY",
        "TDA_ACCOUNT_ID is used as SCHWAB_ACCOUNT",
        "TDA_REFRESH_TOKEN is ignored",
        "'--broker tda' uses the Schwab broker",
    ):
        assert said.count(words) == 1, (words, said)
    assert "Charles Schwab" in out.stdout
    assert "DeprecationWarning" not in out.stderr  # Authlib's note to schwab-py, not the user


def test_paper_with_schwab_trades_the_local_paper_broker_on_schwabs_bars(fake, tmp_path) -> None:
    """Schwab has no paper trading: --paper (the default) runs the local paper broker, said
    once, with Schwab's own data source; nothing is sent to the account."""
    fake.exchange.set_price("AAPL", 100.0)
    token = tmp_path / "token.json"
    fake.write_token_file(token)
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    db = tmp_path / "ledger.sqlite"
    args = ["--strategy", EVERY_BAR, "--symbols", "AAPL", "--granularity", "1m"]
    args += ["--duration", "0.05", "--broker", "schwab", "--db", str(db)]
    env = {**os.environ, "TQDM_DISABLE": "1", "STRATEQUEUE_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, env={**env, **fake.env(token)}
    )
    assert out.returncode == 0, out.stderr
    said = out.stdout + out.stderr
    note = "Charles Schwab has no paper trading: paper trading on the local paper broker instead"
    assert said.count(note) == 1, said
    with sqlite3.connect(db) as conn:
        run = conn.execute("SELECT broker, data_source FROM runs").fetchone()
    assert run == ("paper", "schwab")
    assert fake.order_posts == []
    assert any("/marketdata/v1/pricehistory" in r for r in fake.requests), fake.requests


def test_broker_setup_walks_the_login_and_checks_it(fake, tmp_path) -> None:
    """``stratequeue --broker-setup schwab`` prints the steps, then walks the login: the person
    pastes the address the browser ended on; the token file is written owner-only."""
    token = tmp_path / "home" / "schwab-token.json"
    env = {**os.environ, **fake.env(token), "STRATEQUEUE_HOME": str(tmp_path / "home")}
    env["PYTHONUNBUFFERED"] = "1"
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    proc = subprocess.Popen(
        [exe, "--broker-setup", "schwab"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if "oauth/authorize" in line:
            parts = urlsplit(line.strip())
            answer = httpx.get(f"{fake.base_url}{parts.path}?{parts.query}")
            proc.stdin.write(answer.headers["Location"] + "\n")
            proc.stdin.flush()
            break
    rest, _ = proc.communicate(timeout=60)
    said = "".join(seen) + rest
    assert proc.returncode == 0, said
    assert "Logged in: accounts ...5678" in said
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert json.loads(token.read_text())["token"]["access_token"] not in said


def test_broker_setup_without_an_answer_says_the_login_is_not_finished(fake, tmp_path) -> None:
    env = {**os.environ, **fake.env(tmp_path / "t.json"), "STRATEQUEUE_HOME": str(tmp_path)}
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    out = subprocess.run(
        [exe, "--broker-setup", "schwab"], input="", capture_output=True, text=True, env=env
    )
    assert out.returncode == 1
    assert "Login not finished: run --broker-setup again to log in." in out.stdout + out.stderr
    assert "Traceback" not in out.stderr
