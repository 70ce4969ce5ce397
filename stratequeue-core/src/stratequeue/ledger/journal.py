"""An order journal for a broker plugin whose venue takes no client order id (Schwab): the
plugin keeps the link between our client order id and the venue's order id itself, in a small
SQLite file of its own, written before each request leaves (the intent: what was sent, as a
signature, and since when) and after it (the venue's order id). A restart reads it back.
Kept here so that only the ledger package touches SQLite.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["Entry", "Journal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    cid TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    order_id TEXT,
    state TEXT NOT NULL DEFAULT 'sending',
    replaces TEXT,
    done INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class Entry:
    cid: str
    #: what identifies the order at the venue without an id (Schwab: symbol|instruction|qty|
    #: type|price|stop)
    signature: str
    sent_at: datetime
    order_id: str | None
    #: sending (the answer is unknown), placed, rejected
    state: str
    replaces: str | None = None


class Journal:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def intent(
        self, cid: str, signature: str, sent_at: datetime, replaces: str | None = None
    ) -> None:
        """Committed before the request leaves."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO orders (cid, signature, sent_at, replaces) VALUES (?,?,?,?)",
                (cid, signature, sent_at.isoformat(), replaces),
            )

    def placed(self, cid: str, order_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE orders SET order_id=?, state='placed' WHERE cid=?", (order_id, cid)
            )

    def rejected(self, cid: str) -> None:
        with self._lock:
            self._db.execute("UPDATE orders SET state='rejected', done=1 WHERE cid=?", (cid,))

    def finished(self, cids: list[str]) -> None:
        """These orders are final at the venue and their executions delivered: polls skip them."""
        with self._lock:
            self._db.executemany("UPDATE orders SET done=1 WHERE cid=?", [(c,) for c in cids])

    def open_since(self) -> datetime | None:
        """When the oldest order still to watch was sent (None: nothing to watch)."""
        with self._lock:
            row = self._db.execute("SELECT MIN(sent_at) FROM orders WHERE done=0").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def get(self, cid: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT cid, signature, sent_at, order_id, state, replaces FROM orders WHERE cid=?",
                (cid,),
            ).fetchone()
        return _entry(row) if row else None

    def all(self) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT cid, signature, sent_at, order_id, state, replaces FROM orders"
            ).fetchall()
        return [_entry(r) for r in rows]

    def by_order_id(self) -> dict[str, str]:
        return {e.order_id: e.cid for e in self.all() if e.order_id}


def _entry(row: tuple[str, str, str, str | None, str, str | None]) -> Entry:
    cid, signature, sent_at, order_id, state, replaces = row
    return Entry(cid, signature, datetime.fromisoformat(sent_at), order_id, state, replaces)
