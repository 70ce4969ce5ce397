"""Trades: each strategy's open trades and, once closed, their results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .connection import LedgerConnection, _ts

__all__ = ["TradeRecords"]


class TradeRecords(LedgerConnection):
    def open_trade(
        self,
        strategy_id: str,
        symbol: str,
        trade_ref: str,
        size: float,
        entry_bar: int,
        entry_price: float,
        entry_time: datetime,
        sl: float | None,
        tp: float | None,
        tag: str | None,
    ) -> None:
        self._write(
            "INSERT INTO trades (strategy_id, symbol, trade_ref, status, size, entry_bar, entry_price, "
            "entry_time, sl, tp, tag) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
            (
                strategy_id,
                symbol,
                trade_ref,
                size,
                entry_bar,
                entry_price,
                _ts(entry_time),
                sl,
                tp,
                tag,
            ),
        )

    def close_trade(
        self,
        strategy_id: str,
        symbol: str,
        trade_ref: str,
        *,
        size: float,
        entry_bar: int,
        exit_bar: int,
        entry_price: float,
        exit_price: float,
        sl: float | None,
        tp: float | None,
        pnl: float,
        commission: float,
        return_pct: float,
        entry_time: datetime,
        exit_time: datetime,
        tag: str | None,
    ) -> None:
        with self.transaction():
            self._write(
                "INSERT INTO trades (strategy_id, symbol, trade_ref, status, size, entry_bar, "
                "exit_bar, entry_price, exit_price, sl, tp, pnl, commission, return_pct, "
                "entry_time, exit_time, tag) "
                "VALUES (?, ?, ?, 'closed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    strategy_id,
                    symbol,
                    trade_ref,
                    size,
                    entry_bar,
                    exit_bar,
                    entry_price,
                    exit_price,
                    sl,
                    tp,
                    pnl,
                    commission,
                    return_pct,
                    _ts(entry_time),
                    _ts(exit_time),
                    tag,
                ),
            )
            row = self.db.execute(
                "SELECT seq, size FROM trades WHERE strategy_id=? AND symbol=? AND trade_ref=? "
                "AND status='open'",
                (strategy_id, symbol, trade_ref),
            ).fetchone()
            if row is not None:
                left = row["size"] - size
                if abs(left) < 1e-12:
                    self._write("DELETE FROM trades WHERE seq=?", (row["seq"],))
                else:
                    self._write("UPDATE trades SET size=? WHERE seq=?", (left, row["seq"]))

    def trades(self, strategy_id: str | None = None) -> list[dict[str, Any]]:
        """Closed trades in the order they closed, then open ones (empty exit fields)."""
        where, args = ("WHERE strategy_id=?", (strategy_id,)) if strategy_id else ("", ())
        return self._rows(f"SELECT * FROM trades {where} ORDER BY status='open', seq", args)
