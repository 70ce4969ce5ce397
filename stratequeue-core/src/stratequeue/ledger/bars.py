"""Bars and each bar's equity and positions snapshot: the rows that may wait for the next
commit (see :mod:`.connection`); a read of them writes what waits first.

A live bar keeps when it reached StrateQueue (``received_at``, schema 5), taken by the caller
when the bar came, not when the deferred row is written; warm-up history and replayed bars
keep NULL (they are never late)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..models import Bar
from .connection import LedgerConnection, _ts

__all__ = ["BarRecords"]

_BAR = (
    "INSERT OR IGNORE INTO bars (symbol, ts, open, high, low, close, volume, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_EQUITY = "INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)"
_POSITION = "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?)"


class BarRecords(LedgerConnection):
    def record_bar(self, bar: Bar, received_at: datetime | None = None) -> None:
        """Keep ``bar``; ``received_at``: the wall-clock time a live bar reached StrateQueue
        (None for warm-up history and replays)."""
        received = _ts(received_at) if received_at is not None else None
        self._defer(
            _BAR,
            (
                (
                    bar.symbol,
                    _ts(bar.timestamp),
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    bar.volume,
                    received,
                ),
            ),
        )

    def bars(self, symbol: str) -> list[Bar]:
        return [
            Bar(
                r["symbol"],
                datetime.fromisoformat(r["ts"]),
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["volume"] if r["volume"] is not None else float("nan"),
            )
            for r in self._bar_rows("SELECT * FROM bars WHERE symbol=? ORDER BY ts", (symbol,))
        ]

    def last_bar_time(self, symbol: str) -> datetime | None:
        rows = self._bar_rows("SELECT MAX(ts) AS ts FROM bars WHERE symbol=?", (symbol,))
        return datetime.fromisoformat(rows[0]["ts"]) if rows and rows[0]["ts"] else None

    def arrivals(self, symbol: str) -> list[tuple[datetime, datetime]]:
        """``(bar start, received at)`` of each bar of ``symbol`` that arrived live, by time."""
        rows = self._bar_rows(
            "SELECT ts, received_at FROM bars WHERE symbol=? AND received_at IS NOT NULL "
            "ORDER BY ts",
            (symbol,),
        )
        return [
            (datetime.fromisoformat(r["ts"]), datetime.fromisoformat(r["received_at"]))
            for r in rows
        ]

    def snapshot(
        self,
        ts: datetime,
        strategy_id: str,
        cash: float,
        equity: float,
        positions: Iterable[tuple[str, float, float | None, float | None]],
    ) -> None:
        stamp = _ts(ts)
        self._defer(_EQUITY, ((stamp, strategy_id, cash, equity),))
        self._defer(
            _POSITION,
            [(stamp, strategy_id, sym, qty, avg, mark) for sym, qty, avg, mark in positions],
        )

    def latest_equity(self) -> dict[str, dict[str, Any]]:
        rows = self._bar_rows(
            "SELECT e.* FROM equity e JOIN (SELECT strategy_id, MAX(ts) ts FROM equity GROUP BY "
            "strategy_id) m USING (strategy_id, ts)"
        )
        return {r["strategy_id"]: r for r in rows}

    def latest_positions(self) -> list[dict[str, Any]]:
        return self._bar_rows(
            "SELECT p.* FROM positions p JOIN (SELECT strategy_id, MAX(ts) ts FROM positions GROUP BY "
            "strategy_id) m USING (strategy_id, ts) WHERE p.qty != 0 ORDER BY strategy_id, symbol"
        )

    def _bar_rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        self.flush()
        return self._rows(sql, args)
