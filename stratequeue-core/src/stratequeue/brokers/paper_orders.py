"""The paper broker's orders and holdings, and backtesting.py's rule for the price at which a
sized order fills on a bar."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..models import Bar, BrokerOrder, OrderStatus, Side
from .base import OrderAck

__all__ = ["Holding", "PaperOrder", "match_price", "sized"]


@dataclass
class PaperOrder:
    order: BrokerOrder
    status: OrderStatus = OrderStatus.ACCEPTED
    broker_order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    filled_qty: float = 0.0
    message: str = ""

    def ack(self) -> OrderAck:
        return OrderAck(
            self.order.client_order_id,
            self.status,
            self.broker_order_id,
            self.message,
            self.filled_qty,
            self.order.symbol,
            side=self.order.side,
            qty=self.order.qty,
        )


@dataclass
class Holding:
    qty: float = 0.0
    avg_price: float = 0.0


def sized(order: BrokerOrder) -> bool:
    """Matched by the broker against bars; a book-priced order's book decides its fills."""
    return order.qty is not None or order.notional is not None


def match_price(order: BrokerOrder, bar: Bar) -> float | None:
    """The fill price of ``order`` on ``bar``, or None (backtesting.py's rules)."""
    buy = order.side is Side.BUY
    stop, limit = order.stop_price, order.limit_price
    if stop is not None and not ((bar.high >= stop) if buy else (bar.low <= stop)):
        return None
    if limit is not None:
        if not ((bar.low <= limit) if buy else (bar.high >= limit)):
            return None
        base = stop if stop is not None else bar.open
        return min(base, limit) if buy else max(base, limit)
    if stop is not None:
        return max(bar.open, stop) if buy else min(bar.open, stop)
    return bar.open
