"""The ledger's SQLite connection: opening and migrating the file, meta keys, transactions.

Write-ahead: a transaction that writes what a broker will be told or what was booked (an
intent, an order, a fill, a trade, a sleeve event, a meta key) is committed when it ends,
before the caller acts on it. The rows that only describe the run as it goes (each bar, each
bar's equity and positions snapshot) are *deferred*: kept in memory and written with the next
commit: that of any transaction that writes something else, or of the first one to end
:data:`FLUSH_SECONDS` or more after the previous commit (also: :data:`FLUSH_ROWS` rows
waiting, a read of them, closing the ledger). What a crash
can lose is therefore a tail of bars in which nothing was ordered or filled; the file always
holds a prefix of the run that ends at or after its last order and fill, which a restart
rebuilds from as it does after a crash one bar earlier. No write lock is held while rows wait.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "FLUSH_ROWS",
    "FLUSH_SECONDS",
    "TABLES",
    "LedgerConnection",
    "default_db_path",
    "private_file",
]

TABLES = (
    "runs",
    "strategies",
    "sleeves",
    "signals",
    "intents",
    "orders",
    "order_legs",
    "order_events",
    "fills",
    "fill_allocations",
    "trades",
    "equity",
    "positions",
    "bars",
    "controls",
    "run_settings",
    "strategy_files",
    "run_events",
)

#: deferred rows are written by the first transaction to end this long after the last commit
FLUSH_SECONDS = 1.0
#: ... or once this many wait
FLUSH_ROWS = 5_000


def default_db_path() -> Path:
    """``~/.stratequeue/ledger.sqlite`` (``STRATEQUEUE_HOME`` moves the folder)."""
    home = os.environ.get("STRATEQUEUE_HOME")
    return (Path(home) if home else Path.home() / ".stratequeue") / "ledger.sqlite"


def private_file(path: Path) -> None:
    """Create ``path`` readable and writable by its owner only (0600), if it does not exist:
    whoever can write a ledger can control its run (ledger/controls.py). SQLite gives the WAL
    and shared-memory files the database file's permissions."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class LedgerConnection:
    """The connection every part of :class:`~.store.Ledger` writes and reads through."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            private_file(self.path)
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise UsageError(
                f"Ledger '{path}' is not a StrateQueue database ({exc}). Pass another --db file."
            ) from exc
        self._depth = 0
        #: deferred rows by statement, in the order they were recorded
        self._deferred: dict[str, list[Sequence[Any]]] = {}
        self._deferred_rows = 0
        #: deferred rows executed in the open transaction, not yet committed
        self._in_flight: dict[str, list[Sequence[Any]]] = {}
        self._committed_at = time.monotonic()

    # -- schema --------------------------------------------------------------------------------
    def _migrate(self) -> None:
        has_meta = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        version = 0
        if has_meta:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
        elif self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise UsageError(
                f"'{self.path}' is a SQLite file but not a StrateQueue ledger. Pass another --db file."
            )
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"Ledger '{self.path}' has schema version {version}, newer than this StrateQueue "
                f"understands ({SCHEMA_VERSION}). Upgrade: pip install -U stratequeue"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    self.db.execute(statement)
            if target == 1:
                self.db.execute("INSERT INTO meta VALUES ('ledger_id', ?)", (secrets.token_hex(4),))
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(target),)
            )
            self.db.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def ledger_id(self) -> str:
        return str(self.db.execute("SELECT value FROM meta WHERE key='ledger_id'").fetchone()[0])

    @property
    def schema_version(self) -> int:
        return int(
            self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        )

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; nested uses join the outer transaction. The outermost one commits on
        exit if it wrote anything (deferred rows wait unless they are due, see the module)."""
        mark = {sql: len(rows) for sql, rows in self._deferred.items()} if not self._depth else {}
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                self._restore_deferred(mark)
            raise
        self._depth -= 1
        if self._depth == 0:
            if self._deferred and (self.db.in_transaction or self._due()):
                self._write_deferred()
            if self.db.in_transaction:
                self.db.execute("COMMIT")
                self._committed_at = time.monotonic()
            self._in_flight = {}

    def _due(self) -> bool:
        return (
            self._deferred_rows >= FLUSH_ROWS
            or time.monotonic() - self._committed_at >= FLUSH_SECONDS
        )

    def _write(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Execute a write that must be durable when its transaction ends (outside one: now,
        together with the rows deferred before it)."""
        if self._depth == 0:
            with self.transaction():
                return self._write(sql, args)
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
        return self.db.execute(sql, args)

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self._depth == 0:
            with self.transaction():
                self._write_many(sql, rows)
            return
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
        self.db.executemany(sql, rows)

    def _defer(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Keep rows that may wait for the next commit (see the module)."""
        if not rows:
            return
        self._deferred.setdefault(sql, []).extend(rows)
        self._deferred_rows += len(rows)
        if self._depth == 0 and self._due():
            self.flush()

    def _write_deferred(self) -> None:
        """Execute the deferred rows in the open (or a new) transaction; kept aside until it
        commits, so that a rollback puts them back."""
        deferred, self._deferred, self._deferred_rows = self._deferred, {}, 0
        for sql, rows in deferred.items():
            self._in_flight.setdefault(sql, []).extend(rows)
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
        for sql, rows in deferred.items():
            self.db.executemany(sql, rows)

    def _restore_deferred(self, mark: dict[str, int]) -> None:
        """After a rollback: the rows deferred before the transaction began wait again."""
        restored: dict[str, list[Sequence[Any]]] = {}
        for sql, count in mark.items():
            rows = (self._in_flight.get(sql, []) + self._deferred.get(sql, []))[:count]
            if rows:
                restored[sql] = rows
        self._deferred, self._in_flight = restored, {}
        self._deferred_rows = sum(len(rows) for rows in restored.values())

    def flush(self) -> None:
        """Write the deferred rows now (with the open transaction, if there is one)."""
        if not self._deferred:
            return
        if self._depth:
            self._write_deferred()
            return
        with self.transaction():
            self._write_deferred()

    def close(self) -> None:
        self.flush()
        self.db.close()

    # -- reads -------------------------------------------------------------------------------
    def table(self, name: str) -> list[dict[str, Any]]:
        if name not in TABLES:
            raise UsageError(f"Unknown ledger table '{name}'. Tables: {', '.join(TABLES)}")
        self.flush()
        return self._rows(f"SELECT * FROM {name}")

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]
