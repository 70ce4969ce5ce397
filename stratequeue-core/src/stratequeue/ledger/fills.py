"""Fills, keyed by the broker's execution id (a fill reported twice is kept once), and their
allocations: the part of each fill that belongs to each strategy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..models import Fill
from .connection import LedgerConnection, _ts

__all__ = ["Allocation", "FillRecords"]


@dataclass(frozen=True)
class Allocation:
    """The part of a fill that belongs to one strategy."""

    strategy_id: str
    symbol: str
    ref: str
    qty: float  # signed
    price: float
    commission: float = 0.0


class FillRecords(LedgerConnection):
    def record_fill(
        self, fill: Fill, allocations: Sequence[Allocation], applied_before: datetime | None = None
    ) -> bool:
        """Keep ``fill`` and who it belongs to; False if this execution was already recorded."""
        with self.transaction():
            cur = self._write(
                "INSERT OR IGNORE INTO fills (execution_id, client_order_id, symbol, side, qty, "
                "price, commission, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.execution_id,
                    fill.client_order_id,
                    fill.symbol,
                    fill.side.value,
                    fill.qty,
                    fill.price,
                    fill.commission,
                    _ts(fill.timestamp),
                ),
            )
            if cur.rowcount == 0:
                return False
            fill_id = cur.lastrowid
            before = _ts(applied_before) if applied_before else None
            self._write_many(
                "INSERT INTO fill_allocations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (fill_id, a.strategy_id, a.symbol, a.ref, a.qty, a.price, a.commission, before)
                    for a in allocations
                ],
            )
            return True

    def fills(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM fills ORDER BY id")

    def external_fills(self, strategy_id: str, symbol: str) -> list[dict[str, Any]]:
        """A strategy's real fills on ``symbol`` (external mode), in the order they were applied,
        with the bar before which each was applied: what a rebuild replays."""
        return self._rows(
            "SELECT a.ref, a.qty, a.price, a.applied_before, f.ts FROM fill_allocations a "
            "JOIN fills f ON f.id = a.fill_id WHERE a.strategy_id=? AND a.symbol=? "
            "AND a.applied_before IS NOT NULL ORDER BY a.rowid",
            (strategy_id, symbol),
        )

    def allocations(self, fill_id: int) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM fill_allocations WHERE fill_id=?", (fill_id,))

    def filled_qty(self, client_order_id: str) -> float:
        """What the recorded fills of ``client_order_id`` (an order, or an exit leg such as
        ``<cid>/tp``) add up to: its booked cumulative quantity."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(qty), 0) FROM fills WHERE client_order_id=?", (client_order_id,)
        ).fetchone()
        return float(row[0])

    def has_execution(self, execution_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM fills WHERE execution_id=?", (execution_id,)).fetchone()
            is not None
        )

    def strategy_positions(self) -> dict[tuple[str, str], float]:
        """Each (strategy, symbol)'s position as its fills say."""
        rows = self.db.execute(
            "SELECT strategy_id, symbol, SUM(qty) FROM fill_allocations GROUP BY strategy_id, symbol"
        ).fetchall()
        return {(r[0], r[1]): float(r[2]) for r in rows if abs(r[2]) > 1e-12}
