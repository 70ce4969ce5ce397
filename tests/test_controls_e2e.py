"""Operator controls end to end: a paper run on the demo feed in a subprocess, each command
run from another process, every effect read back from the ledger: a pause withholds the
strategy's orders from the acknowledged bar on (its book still sees the bars), resume lets
them out again, allocate moves the sleeve's capital at the next bar, flatten leaves the
position at zero; after a SIGKILL a request waits in the ledger and the restart applies it
(and keeps the pauses and allocations applied before). A kill switch re-armed by
``risk reset`` lets entries out again. Bad input: one line naming it, exit 2."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from stratequeue.ledger import Ledger

from .conftest import REPO, stratequeue

STRATEGIES = REPO / "tests" / "strategies"
EVERY = STRATEGIES / "trade_every_bar.py"
HOLD = STRATEGIES / "buy_and_hold.py"


def _exe() -> str:
    return shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"


def start(
    db: Path, *args: str, env: dict[str, str] | None = None, granularity: str = "1s"
) -> subprocess.Popen[bytes]:
    """A long paper run on demo bars; its output goes to a file next to the ledger."""
    log = open(db.with_suffix(".log"), "ab")  # noqa: SIM115
    command = [_exe(), *args, "--symbols", "AAPL", "--granularity", granularity, "--lookback", "3"]
    command += ["--duration", "5", "--db", str(db)]
    full_env = {**os.environ, "TQDM_DISABLE": "1", **(env or {})}
    return subprocess.Popen(command, stdout=log, stderr=log, env=full_env, cwd=REPO)


def rows(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
        return con.execute(sql, args).fetchall()


def wait_until(check: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except sqlite3.OperationalError:  # the file or its tables are not there yet
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def bars(db: Path) -> int:
    return rows(db, "SELECT count(*) FROM bars")[0][0]


def wait_bars(db: Path, more: int) -> None:
    target = bars(db) + more
    wait_until(lambda: bars(db) >= target, f"{target} bars")


def active(db: Path) -> bool:
    with closing(Ledger(db)) as ledger:
        return ledger.active_run() is not None


def control(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return stratequeue(*args, "--db", str(db), timeout=60)


def ack(db: Path, control_id: int) -> dict[str, object]:
    names = ("kind", "status", "run_id", "bar_time", "result", "requested_by", "args")
    (row,) = rows(
        db,
        "SELECT kind, status, run_id, bar_time, result, requested_by, args FROM controls "
        "WHERE id=?",
        (control_id,),
    )
    return dict(zip(names, row, strict=True))


def last_control(db: Path) -> int:
    return rows(db, "SELECT max(id) FROM controls")[0][0]


def orders_of(db: Path, strategy: str, after: str, *, refused: bool = False) -> list[str]:
    """The strategy's entry orders decided on a bar after ``after``: sent ones, or
    (``refused``) the ones the rails refused. (Exits, which only reduce a position, pass a
    pause as they pass a stale feed and a kill switch.)"""
    return [
        cid
        for (cid,) in rows(
            db,
            "SELECT DISTINCT o.client_order_id FROM orders o JOIN order_legs l USING "
            "(client_order_id) JOIN intents i ON i.client_order_id = o.client_order_id AND "
            "i.strategy_id = l.strategy_id AND i.ref = l.ref WHERE l.strategy_id = ? AND "
            "i.bar_time > ? AND i.parent_ref IS NULL AND (o.status = 'rejected') = ?",
            (strategy, after, refused),
        )
    ]


def position(db: Path, strategy: str) -> float:
    """The strategy's AAPL position: its book's last snapshot, which must equal its fills."""
    (book,) = rows(
        db,
        "SELECT qty FROM positions WHERE strategy_id=? AND symbol='AAPL' ORDER BY ts DESC LIMIT 1",
        (strategy,),
    )[0]
    (filled,) = rows(
        db,
        "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations WHERE strategy_id=? AND symbol='AAPL'",
        (strategy,),
    )[0]
    assert book == filled, (book, filled)
    return float(book)


@pytest.fixture
def three(tmp_path):
    """Two strategies trading every bar (a, b) and one buying and holding (h), one account."""
    path = tmp_path / "strategies.txt"
    path.write_text(f"{EVERY},a,0.3\n{EVERY},b,0.3\n{HOLD},h,0.3\n")
    return path


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_pause_resume_allocate_flatten_and_across_a_sigkill(three, tmp_path):
    db = tmp_path / "run.sqlite"
    proc = start(db, "--strategies", str(three))
    try:
        wait_until(lambda: active(db) and bars(db) >= 6, "the run's heartbeat and its bars")
        # -- pause a: from the acknowledged bar on, none of its orders goes out ------------------
        out = control(db, "pause", "a")
        assert out.returncode == 0, out.stdout + out.stderr
        paused = ack(db, last_control(db))
        assert paused["status"] == "applied" and "a paused" in str(paused["result"])
        assert f"#{last_control(db)} pause: applied after the bar of" in out.stdout
        assert paused["requested_by"] == getpass.getuser()
        wait_bars(db, 4)
        assert orders_of(db, "a", str(paused["bar_time"])) == []
        assert orders_of(db, "a", str(paused["bar_time"]), refused=True)  # its book saw bars
        assert orders_of(db, "b", str(paused["bar_time"]))  # the others trade on
        status = stratequeue("status", "--db", str(db))
        assert "Paused: a" in status.stdout, status.stdout
        assert f"#{last_control(db)} pause a by {getpass.getuser()}" in status.stdout
        # -- resume a: its orders go out again --------------------------------------------------
        out = control(db, "resume", "a")
        assert out.returncode == 0, out.stdout + out.stderr
        resumed = ack(db, last_control(db))
        wait_bars(db, 4)
        assert orders_of(db, "a", str(resumed["bar_time"]))
        # -- allocate b 0.4: its capital moves at the next bar ----------------------------------
        out = control(db, "allocate", "b", "0.4")
        assert out.returncode == 0, out.stdout + out.stderr
        moved = ack(db, last_control(db))
        (event,) = rows(
            db,
            "SELECT after_ts, amount FROM sleeve_events WHERE strategy_id='b' AND kind='capital'",
        )
        assert event[0] == moved["bar_time"] and 9_000 < event[1] < 11_000  # 0.1 of ~100k
        assert rows(db, "SELECT allocation FROM strategies WHERE strategy_id='b'") == [(0.4,)]
        wait_bars(db, 2)
        (before,) = rows(
            db, "SELECT equity FROM equity WHERE strategy_id='b' AND ts=?", (moved["bar_time"],)
        )
        (after,) = rows(
            db,
            "SELECT equity FROM equity WHERE strategy_id='b' AND ts>? ORDER BY ts LIMIT 1",
            (moved["bar_time"],),
        )
        assert abs(after[0] - before[0] - event[1]) < 20  # the capital, plus one share's move
        # -- pause and flatten h: its position goes to zero and stays there ---------------------
        wait_until(lambda: position(db, "h") == 1, "h holding its share")
        assert control(db, "pause", "h").returncode == 0
        out = control(db, "flatten", "h")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "closing h +1 AAPL at the next bar" in out.stdout
        wait_bars(db, 3)
        assert position(db, "h") == 0
        # -- SIGKILL; a request while no run is active waits for the next start -----------------
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        wait_until(lambda: not active(db), "the heartbeat going stale", timeout=15)
        out = control(db, "pause", "b")
        assert out.returncode == 0 and "no run is active" in out.stdout, out.stdout + out.stderr
        waiting = last_control(db)
        assert ack(db, waiting)["status"] == "pending"
        proc = start(db, "--strategies", str(three))
        wait_until(lambda: ack(db, waiting)["status"] != "pending", "the restart applying it")
        late = ack(db, waiting)
        assert late["status"] == "applied" and late["run_id"] == 2
        wait_bars(db, 4)
        assert orders_of(db, "b", str(late["bar_time"])) == []
        assert orders_of(db, "h", str(late["bar_time"])) == []  # still paused
        assert orders_of(db, "h", str(late["bar_time"]), refused=True)
        assert position(db, "h") == 0
        assert orders_of(db, "a", str(late["bar_time"]))  # resumed before the kill
        assert rows(db, "SELECT allocation FROM strategies WHERE strategy_id='b'") == [(0.4,)]
        assert (
            "allocation 0.4 (set by 'stratequeue allocate')" in db.with_suffix(".log").read_text()
        )
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_risk_reset_re_allows_entries(tmp_path):
    db = tmp_path / "risk.sqlite"
    proc = start(db, "--strategy", str(EVERY), "--max-drawdown", "0.0000001")
    try:
        wait_until(lambda: active(db), "the run's heartbeat")
        killed = wait_until(
            lambda: rows(db, "SELECT bar_time FROM signals WHERE signal='KILL'"), "a kill switch"
        )
        wait_until(
            lambda: orders_of(db, "trade_every_bar", killed[0][0], refused=True),  # type: ignore[index]
            "an entry refused by the kill switch",
        )
        status = control(db, "risk", "status")
        assert "KILL SWITCH the account: max_drawdown" in status.stdout, status.stdout
        out = control(db, "risk", "reset", "--reason", "checked the feed")
        assert out.returncode == 0, out.stdout + out.stderr
        reset = ack(db, last_control(db))
        assert reset["status"] == "applied"
        assert "kill switch of the account re-armed (was max_drawdown)" in str(reset["result"])
        assert reset["requested_by"] == getpass.getuser()
        assert json.loads(str(reset["args"])) == {"reason": "checked the feed"}
        wait_bars(db, 3)
        assert orders_of(db, "trade_every_bar", str(reset["bar_time"]))
        assert "reset the account by" in control(db, "risk", "status").stdout
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def ledger_of_two(tmp_path):
    db = tmp_path / "two.sqlite"
    with closing(Ledger(db)) as ledger:
        ledger.upsert_strategy("a", "a.py", 0.5, 50_000, ["AAPL"])
        ledger.upsert_strategy("b", "b.py", 0.3, 30_000, ["AAPL"])
        ledger.add_sleeve("a", "AAPL", 50_000, 3, None, False)
    return db


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["pause", "zzz"], "Unknown strategy 'zzz'"),
        (["allocate", "a", "0.8"], "would add up to 1.1"),
        (["flatten", "a", "--symbol", "MSFT"], "Symbol 'MSFT' is not traded by a"),
        (["risk", "reset", "--reason", " "], "--reason is empty"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ledger_of_two, args, named):
    out = control(ledger_of_two, *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert named in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert rows(ledger_of_two, "SELECT count(*) FROM controls") == [(0,)]


def test_a_ledger_that_is_not_a_run_s_is_named(tmp_path):
    empty = tmp_path / "empty.sqlite"
    Ledger(empty).close()
    out = control(empty, "pause", "a")
    assert out.returncode == 2 and f"Ledger '{empty}' has no strategies" in out.stderr
    missing = control(tmp_path / "nope.sqlite", "pause", "a")
    assert missing.returncode == 2 and "No ledger at" in missing.stderr
    assert not (tmp_path / "nope.sqlite").exists()


def test_a_control_applies_within_seconds_between_slow_bars(three, tmp_path):
    db = tmp_path / "slow.sqlite"
    proc = start(db, "--strategies", str(three), granularity="1m")
    try:
        wait_until(lambda: active(db), "the run's heartbeat")
        started = time.monotonic()
        out = control(db, "pause", "a", "--timeout", "5")
        took = time.monotonic() - started
        assert out.returncode == 0 and "applied" in out.stdout, out.stdout + out.stderr
        assert took < 5, took  # the next 1-minute bar is not waited for
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def open_orders(db: Path, strategy: str) -> list[str]:
    return [
        cid
        for (cid,) in rows(
            db,
            "SELECT DISTINCT o.client_order_id FROM orders o JOIN order_legs l USING "
            "(client_order_id) WHERE l.strategy_id=? AND o.status IN ('pending', 'unknown', 'accepted', "
            "'partially_filled')",
            (strategy,),
        )
    ]


def test_cancel_orders_and_a_pause_cancel_open_entry_orders(tmp_path):
    db = tmp_path / "limits.sqlite"
    strategies = tmp_path / "strategies.txt"
    resting = STRATEGIES / "resting_limit.py"
    strategies.write_text(f"{resting},r1,0.3\n{resting},r2,0.3\n")
    proc = start(db, "--strategies", str(strategies))
    try:
        wait_until(
            lambda: active(db) and open_orders(db, "r1") and open_orders(db, "r2"),
            "both limits working",
        )
        (first,) = open_orders(db, "r1")
        (other,) = open_orders(db, "r2")
        out = control(db, "cancel-orders", "r1")
        assert out.returncode == 0 and "r1: 1 open order(s) canceled" in out.stdout, out.stdout
        assert rows(db, "SELECT status FROM orders WHERE client_order_id=?", (first,)) == [
            ("canceled",)
        ]
        assert open_orders(db, "r2") == [other]  # another strategy's order is left alone
        out = control(db, "pause", "r2")
        assert out.returncode == 0 and "1 open order(s) canceled" in out.stdout, out.stdout
        paused = ack(db, last_control(db))
        wait_bars(db, 3)
        assert open_orders(db, "r2") == []
        assert orders_of(db, "r2", str(paused["bar_time"])) == []
        assert open_orders(db, "r1")  # it placed a new one: only its old order was canceled
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
