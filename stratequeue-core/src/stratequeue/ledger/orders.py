"""Signals, intents and orders: committed BEFORE the order is sent (write-ahead), so a crash
between the two is recoverable with the same client order id."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..models import BrokerOrder, OrderIntent, OrderStatus
from .connection import LedgerConnection, _now, _ts

__all__ = ["OrderRecords"]

_OPEN = ",".join(f"'{s.value}'" for s in OrderStatus if s.is_open)


class OrderRecords(LedgerConnection):
    def record_signal(
        self,
        run_id: int,
        strategy_id: str,
        symbol: str,
        bar_time: datetime,
        signal: str,
        price: float | None,
        size: float | None,
        detail: dict | None = None,
    ) -> None:
        self._write(
            "INSERT INTO signals (run_id, strategy_id, symbol, bar_time, signal, price, size, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                strategy_id,
                symbol,
                _ts(bar_time),
                signal,
                price,
                size,
                json.dumps(detail) if detail else None,
            ),
        )

    def record_intent(self, run_id: int, intent: OrderIntent, client_order_id: str | None) -> None:
        self._write(
            "INSERT OR IGNORE INTO intents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                intent.strategy_id,
                intent.symbol,
                intent.ref,
                intent.action.value,
                run_id,
                _ts(intent.bar_time),
                intent.size,
                intent.order_type.value,
                intent.limit,
                intent.stop,
                intent.sl,
                intent.tp,
                intent.tag,
                intent.parent_ref,
                client_order_id,
                _now(),
            ),
        )

    def record_order(
        self, run_id: int, order: BrokerOrder, legs: Iterable[tuple[str, str, float]]
    ) -> bool:
        """Write ``order`` (status pending) and its legs (strategy, ref, size) before sending.
        Returns False when the order was already recorded (a re-derived intent)."""
        now = _now()
        cur = self._write(
            "INSERT OR IGNORE INTO orders (client_order_id, run_id, symbol, side, qty, notional, "
            "order_type, limit_price, stop_price, time_in_force, order_class, take_profit, "
            "stop_loss, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.client_order_id,
                run_id,
                order.symbol,
                order.side.value,
                order.qty,
                order.notional,
                order.order_type.value,
                order.limit_price,
                order.stop_price,
                order.time_in_force,
                order.order_class,
                order.take_profit,
                order.stop_loss,
                OrderStatus.PENDING.value,
                now,
                now,
            ),
        )
        added = cur.rowcount > 0
        self._write_many(
            "INSERT OR IGNORE INTO order_legs VALUES (?, ?, ?, ?)",
            [(order.client_order_id, s, r, size) for s, r, size in legs],
        )
        return added

    def update_order(
        self,
        client_order_id: str,
        status: OrderStatus,
        *,
        event: str,
        message: str = "",
        broker_order_id: str | None = None,
        filled_qty: float | None = None,
    ) -> None:
        now = _now()
        with self.transaction():
            self._write(
                "UPDATE orders SET status=?, message=COALESCE(NULLIF(?, ''), message), "
                "broker_order_id=COALESCE(?, broker_order_id), filled_qty=COALESCE(?, filled_qty), "
                "updated_at=? WHERE client_order_id=?",
                (status.value, message, broker_order_id, filled_qty, now, client_order_id),
            )
            self._write(
                "INSERT INTO order_events (client_order_id, event, status, message, ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (client_order_id, event, status.value, message, now),
            )

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM orders WHERE client_order_id=?", (client_order_id,))
        return rows[0] if rows else None

    def orders(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        if open_only:
            return self._rows(f"SELECT * FROM orders WHERE status IN ({_OPEN}) ORDER BY created_at")
        return self._rows("SELECT * FROM orders ORDER BY created_at")

    def legs(self, client_order_id: str) -> list[dict[str, Any]]:
        """The strategy parts of an order, in the order they were recorded (a trade's close
        before an entry netted with it: its fill is applied to the books in this order)."""
        return self._rows(
            "SELECT * FROM order_legs WHERE client_order_id=? ORDER BY rowid", (client_order_id,)
        )

    def intent_orders(self, strategy_id: str, symbol: str) -> dict[str, str]:
        """The client order id of each of a strategy's order refs on ``symbol``."""
        rows = self.db.execute(
            "SELECT ref, client_order_id FROM order_legs l JOIN orders o USING (client_order_id) "
            "WHERE l.strategy_id=? AND o.symbol=?",
            (strategy_id, symbol),
        ).fetchall()
        return {r[0]: r[1] for r in rows}
