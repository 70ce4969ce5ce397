"""Kill -9 at chosen moments, restart with the same --db, kill again: after every kill no order
was sent twice and no fill was booked twice, and the finished run is the very same, bit for
bit, as one that was never interrupted.

Where a kill lands is arranged and then checked, never assumed:

* ``plain``: killed as soon as the ledger holds ``target`` bars (anywhere in a bar).
* ``held``: from ``target`` bars on, the test holds the paper account's write lock, so the run
  blocks at its next request to the broker; it is killed once the ledger is ahead of the
  account: a bar committed whose orders were not sent or whose fills were not booked.
* ``startup``: the first start is held from its first account write (the starting cash) on:
  it is killed after its run row and warm-up are committed, before any live bar.
* ``reconcile``: a restart is held from before it starts: it is killed while reconciling,
  blocked on its first request to the broker (the resend of what the last kill cut off).

The paper account logs every order request (``submissions``), also one repeating a known
client order id, so an order sent twice is seen even though the account keeps it once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from stratequeue.models import OrderStatus
from test_replay_parity import FILES, synthetic

HERE = Path(__file__).parent / "portfolio_files"
BARS = 400
WARMUP = 60  # history bars: the first start adopts their trades and sends their pending orders
LIVE = BARS - WARMUP
TIMEOUT = 300.0

# Each chain: kills in order, each followed by a restart; the last restart runs to the end.
CHAINS: dict[str, list[tuple[str, float]]] = {
    "startup-then-reconcile": [("startup", 0.0), ("reconcile", 0.0), ("plain", 0.45)],
    "held-then-reconcile": [("held", 0.1), ("reconcile", 0.0), ("plain", 0.6), ("held", 0.9)],
    "plain-and-held": [("plain", 0.05), ("held", 0.35), ("plain", 0.75), ("held", 0.97)],
}


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
        "--warmup",
        str(WARMUP),
        "--db",
        str(db),
        "--trades-out",
        str(out),
    ]


def paper_path(db: Path) -> Path:
    return db.with_name(db.stem + ".paper-account.sqlite")


def start(args: list[str]) -> subprocess.Popen[bytes]:
    """Run the command with its output in a file (no pipes to drain while it is killed)."""
    env = {**os.environ, "TQDM_DISABLE": "1"}
    log = open(Path(args[args.index("--db") + 1]).with_suffix(".log"), "ab")  # noqa: SIM115
    return subprocess.Popen(args, stdout=log, stderr=log, env=env)


def finish(args: list[str], db: Path) -> None:
    proc = start(args)
    assert proc.wait(timeout=TIMEOUT) == 0, db.with_suffix(".log").read_text()


# -- reading the two files while the run writes them ------------------------------------------
def read(path: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
    """Rows of ``sql`` in ``path``, read only ([] while the file or its tables do not exist)."""
    if not path.exists():
        return []
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as con:
            return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


def bars_done(db: Path) -> int:
    return len(read(db, "SELECT 1 FROM bars"))


def runs(db: Path) -> list[tuple[int, str | None]]:
    return read(db, "SELECT run_id, ended_at FROM runs ORDER BY run_id")


@dataclass
class Account:
    """The paper account as the broker holds it."""

    cash: float
    holdings: dict[str, float]
    orders: set[str]
    open_orders: set[str]
    executions: set[str]
    submissions: Counter[str]


def account(path: Path, con: sqlite3.Connection | None = None) -> Account:
    def rows(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall() if con is not None else read(path, sql)

    bodies = [json.loads(b) for (b,) in rows("SELECT body FROM orders")]
    return Account(
        cash=rows("SELECT value FROM account WHERE key='cash'")[0][0],
        holdings={s: q for s, q in rows("SELECT symbol, qty FROM holdings") if q != 0},
        orders={b["order"]["client_order_id"] for b in bodies},
        open_orders={
            b["order"]["client_order_id"] for b in bodies if OrderStatus(b["status"]).is_open
        },
        executions={e for (e,) in rows("SELECT execution_id FROM executions")},
        submissions=Counter(c for (c,) in rows("SELECT client_order_id FROM submissions")),
    )


@dataclass
class Ahead:
    """What the ledger has committed and the account does not have yet: orders not sent,
    fills not booked, orders the books are done with that the account still holds open."""

    unsent: set[str]
    unbooked: set[str]
    unclosed: set[str]

    def __bool__(self) -> bool:
        return bool(self.unsent or self.unbooked or self.unclosed)


def ahead(db: Path, acct: Account) -> Ahead:
    orders = dict(read(db, "SELECT client_order_id, status FROM orders"))
    done = {c for c, status in orders.items() if not OrderStatus(status).is_open}
    fills = {e for (e,) in read(db, "SELECT execution_id FROM fills")}
    return Ahead(set(orders) - acct.orders, fills - acct.executions, done & acct.open_orders)


# -- killing ----------------------------------------------------------------------------------
@contextmanager
def account_locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the paper account's write lock: the run's next request to the broker waits."""
    con = sqlite3.connect(path, isolation_level=None, timeout=TIMEOUT)
    try:
        con.execute("BEGIN IMMEDIATE")
        yield con
    finally:
        con.execute("ROLLBACK")
        con.close()


def wait_for(proc: subprocess.Popen[bytes], condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def cpu_time(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def wait_until_blocked(proc: subprocess.Popen[bytes], quiet: float = 0.3) -> None:
    """Until the run has used no CPU for ``quiet`` seconds: it waits for the held lock."""
    last, since = cpu_time(proc.pid), time.monotonic()
    while time.monotonic() - since < quiet:
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before blocking"
        time.sleep(0.05)
        now = cpu_time(proc.pid)
        if now != last:
            last, since = now, time.monotonic()


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


@dataclass
class Landing:
    kind: str
    bars: int
    ahead: Ahead
    account: Account


def kill_at_startup(args: list[str], db: Path, attempts: int = 3) -> Account:
    """Lock the account right after its first write (the starting cash), before the run's
    first order request; a machine too busy to win that race starts afresh."""
    paper = paper_path(db)
    for _ in range(attempts):
        assert not db.exists() and not paper.exists()
        proc = start(args)
        wait_for(proc, lambda: read(paper, "SELECT 1 FROM account"), "the account's first write")
        with account_locked(paper) as con:
            acct = account(paper, con)
            if not acct.orders and not acct.executions:
                wait_for(proc, partial(ahead, db, acct), "the ledger to be ahead of the account")
                kill(proc)
                return acct
            kill(proc)
        for leftover in db.parent.glob(f"{db.stem}*"):
            leftover.unlink()
    raise AssertionError(f"the account lock came too late {attempts} times")


def kill_once(args: list[str], db: Path, kind: str, fraction: float) -> Landing:
    """Start the run, kill it where ``kind`` says, and return what the kill left."""
    paper = paper_path(db)
    target = WARMUP + int(fraction * LIVE)
    before = len(runs(db))
    if kind == "reconcile":
        assert paper.exists()
        with account_locked(paper) as con:
            proc = start(args)
            wait_for(proc, lambda: len(runs(db)) > before, "its run row")
            wait_until_blocked(proc)
            kill(proc)
            acct = account(paper, con)
    elif kind == "startup":
        acct = kill_at_startup(args, db)
    elif kind == "held":
        proc = start(args)
        wait_for(proc, lambda: bars_done(db) >= target, f"{target} bars")
        with account_locked(paper) as con:
            acct = account(paper, con)
            wait_for(proc, lambda: ahead(db, acct), "the ledger to be ahead of the account")
            kill(proc)
    else:
        proc = start(args)
        wait_for(proc, lambda: bars_done(db) >= target, f"{target} bars")
        kill(proc)
        acct = account(paper)
    landing = Landing(kind, bars_done(db), ahead(db, account(paper)), account(paper))
    assert landing.account == acct, "the account changed after the kill"
    # Where it landed: a run of this start was under way, not ended ...
    started = runs(db)
    assert len(started) == before + 1 and started[-1][1] is None, started
    # ... at the bar it was meant to.
    if kind == "startup":  # the warm-up's trade adopted in the ledger, not yet at the account
        assert landing.bars == WARMUP and landing.ahead.unsent and landing.ahead.unbooked, landing
    elif kind == "reconcile":
        assert landing.ahead, f"nothing left to resend: {landing}"
    else:
        assert landing.bars >= target, landing
    if kind == "held":
        assert landing.ahead, landing
    return landing


# -- what must hold after every kill, and at the end --------------------------------------------
def check_books(db: Path, acct: Account) -> None:
    """No order sent twice; the account holds only what the ledger committed first; each fill
    booked once, and the account's holdings are the strategies' shares of the booked fills."""
    twice = {c: n for c, n in acct.submissions.items() if n > 1}
    assert not twice, f"orders sent more than once: {twice}"
    orders = {c for (c,) in read(db, "SELECT client_order_id FROM orders")}
    assert set(acct.submissions) <= orders and acct.orders <= orders
    fills = dict(read(db, "SELECT execution_id, id FROM fills"))
    assert acct.executions <= set(fills)
    held: dict[str, float] = defaultdict(float)
    for execution in sorted(acct.executions, key=fills.__getitem__):
        for symbol, qty in read(
            db, "SELECT symbol, qty FROM fill_allocations WHERE fill_id=?", (fills[execution],)
        ):
            held[symbol] += qty
    assert {s: q for s, q in held.items() if q != 0} == acct.holdings


def equity(db: Path) -> pd.DataFrame:
    return pd.DataFrame(
        read(db, "SELECT ts, strategy_id, cash, equity FROM equity ORDER BY ts, strategy_id"),
        columns=["ts", "strategy_id", "cash", "equity"],
    )


@pytest.fixture(scope="module")
def clean(setup):
    db, out = setup / "clean.sqlite", setup / "clean.csv"
    finish(replay_args(setup, db, out), db)
    acct = account(paper_path(db))
    check_books(db, acct)
    return pd.read_csv(out), acct, equity(db)


@pytest.mark.parametrize("chain", list(CHAINS))
def test_sigkill_and_restart_loses_nothing_and_repeats_nothing(setup, clean, chain, tmp_path):
    clean_trades, clean_account, clean_equity = clean
    db, out = tmp_path / "killed.sqlite", tmp_path / "killed.csv"
    args = replay_args(setup, db, out)
    landings = []
    for kind, fraction in CHAINS[chain]:
        landing = kill_once(args, db, kind, fraction)
        check_books(db, landing.account)
        landings.append(landing)
    # An order accepted and not yet filled was at the broker at some kill.
    assert any(landing.account.open_orders for landing in landings)
    finish(args, db)

    # The finished run is the uninterrupted one, bit for bit.
    pd.testing.assert_frame_equal(pd.read_csv(out), clean_trades, check_exact=True)
    pd.testing.assert_frame_equal(equity(db), clean_equity, check_exact=True)
    final = account(paper_path(db))
    check_books(db, final)
    assert final.cash == clean_account.cash
    assert final.holdings == clean_account.holdings
    # Every order the ledger has was sent exactly once, as many as in the clean run.
    ledger_orders = {c for (c,) in read(db, "SELECT client_order_id FROM orders")}
    assert final.submissions == Counter(ledger_orders)
    assert len(final.submissions) == len(clean_account.submissions)
    assert final.executions == {e for (e,) in read(db, "SELECT execution_id FROM fills")}
    assert len(final.executions) == len(clean_account.executions)
    sends = read(
        db,
        "SELECT client_order_id, COUNT(*) FROM order_events WHERE event LIKE 'sent%' "
        "GROUP BY client_order_id HAVING COUNT(*) > 1",
    )
    assert sends == []
