"""Operator controls: requests to a running run, written to its ledger by another process.

``stratequeue pause|resume|flatten|cancel-orders|risk reset|allocate`` writes a *request* (its
kind, strategy, symbol and arguments, the OS user who asked and when); the run applies pending
requests at its next bar (or within a second when bars are slow) and writes the
*acknowledgement* into the same row: when, after which bar, what it did, and whether it was
``applied`` or ``refused``. Nothing listens on a network: whoever can write the ledger file
(0600 when StrateQueue creates it) can control the run, and every request stays in its history.

A running process keeps ``runs.heartbeat_at`` fresh (every :data:`HEARTBEAT_SECONDS`); a run
whose heartbeat is older than :data:`ALIVE_SECONDS` is not running (ended, or killed).
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .connection import LedgerConnection, _now, _ts

__all__ = [
    "ALIVE_SECONDS",
    "HEARTBEAT_SECONDS",
    "KINDS",
    "ControlRecords",
    "os_user",
]

#: what a control may ask; none of them opens a position
KINDS = ("pause", "resume", "flatten", "cancel-orders", "risk-reset", "allocate")
HEARTBEAT_SECONDS = 1.0
ALIVE_SECONDS = 5.0


def os_user() -> str:
    """The OS user running this process (recorded with every request)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER: say so, never guess
        return "unknown"


class ControlRecords(LedgerConnection):
    # -- the command's side ----------------------------------------------------------------------
    def request_control(
        self,
        kind: str,
        strategy_id: str | None = None,
        symbol: str | None = None,
        args: dict[str, Any] | None = None,
        *,
        requested_by: str | None = None,
    ) -> int:
        """Write a pending request; returns its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown control kind {kind!r}: one of {', '.join(KINDS)}")
        cur = self._write(
            "INSERT INTO controls (kind, strategy_id, symbol, args, requested_by, requested_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                kind,
                strategy_id,
                symbol,
                json.dumps(args or {}, sort_keys=True),
                requested_by or os_user(),
                _now(),
            ),
        )
        return int(cur.lastrowid or 0)

    def control(self, control_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM controls WHERE id=?", (control_id,))
        return rows[0] if rows else None

    def active_run(self, now: datetime | None = None) -> int | None:
        """The run that is running on this ledger now (its heartbeat is fresh), or None."""
        row = self.db.execute(
            "SELECT run_id, heartbeat_at FROM runs WHERE ended_at IS NULL "
            "ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        if row is None or row[1] is None:
            return None
        age = (now or datetime.now(UTC)) - datetime.fromisoformat(row[1])
        return int(row[0]) if age <= timedelta(seconds=ALIVE_SECONDS) else None

    # -- the run's side --------------------------------------------------------------------------
    def beat(self, run_id: int) -> None:
        """The run is alive (written by its heartbeat thread, on its own connection)."""
        self._write("UPDATE runs SET heartbeat_at=? WHERE run_id=?", (_now(), run_id))

    def has_pending_controls(self) -> bool:
        return bool(self.db.execute("SELECT 1 FROM controls WHERE status='pending'").fetchone())

    def pending_controls(self) -> list[dict[str, Any]]:
        return [
            {**row, "args": json.loads(row["args"])}
            for row in self._rows("SELECT * FROM controls WHERE status='pending' ORDER BY id")
        ]

    def acknowledge_control(
        self, control_id: int, run_id: int, bar_time: datetime | None, status: str, result: str
    ) -> None:
        """What the run did with request ``control_id``: ``applied`` or ``refused``."""
        if status not in ("applied", "refused"):
            raise ValueError(f"control status {status!r}: 'applied' or 'refused'")
        self._write(
            "UPDATE controls SET status=?, run_id=?, applied_at=?, bar_time=?, result=? WHERE id=?",
            (status, run_id, _now(), _ts(bar_time) if bar_time else None, result, control_id),
        )

    def controls(self, last: int | None = None) -> list[dict[str, Any]]:
        """Every request, oldest first (``last``: only the newest ``last`` of them)."""
        rows = self._rows(
            "SELECT * FROM controls ORDER BY id DESC" + (" LIMIT ?" if last else ""),
            (last,) if last else (),
        )
        return [{**row, "args": json.loads(row["args"])} for row in reversed(rows)]

    def applied_controls(self, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
        """The applied requests of ``kinds``, oldest first (a restart restores pauses)."""
        marks = ", ".join("?" for _ in kinds)
        rows = self._rows(
            f"SELECT * FROM controls WHERE status='applied' AND kind IN ({marks}) ORDER BY id",
            kinds,
        )
        return [{**row, "args": json.loads(row["args"])} for row in rows]

    def paused_sleeves(self) -> set[tuple[str, str]]:
        """The (strategy, symbol) sleeves paused by the applied pause and resume requests."""
        symbols: dict[str, list[str]] = {}
        for row in self._rows("SELECT strategy_id, symbol FROM sleeves"):
            symbols.setdefault(row["strategy_id"], []).append(row["symbol"])
        held: set[tuple[str, str]] = set()
        for control in self.applied_controls(("pause", "resume")):
            strategy = control["strategy_id"]
            mine = [control["symbol"]] if control["symbol"] else symbols.get(strategy, [])
            pairs = {(strategy, symbol) for symbol in mine}
            held = held | pairs if control["kind"] == "pause" else held - pairs
        return held
