"""Fills from cumulative order state, so the stream and polling never count one twice.

Both the trade_updates stream and GET /v2/orders report an order's cumulative ``filled_qty``
and ``filled_avg_price``. :class:`FillBook` remembers what it has already reported per
order and turns each increase into one :class:`~stratequeue.models.Fill` (a partial fill is
one Fill of several), priced so that the reported fills average to Alpaca's average price,
and carrying the order's cumulative quantity after it (``Fill.cum_qty``).
"""

from __future__ import annotations

import threading
from datetime import datetime

from stratequeue.models import Fill, Side, utc

__all__ = ["FillBook"]

_EPS = 1e-9


class FillBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reported: dict[str, tuple[float, float]] = {}  # cid -> (qty, cost)
        self._queue: list[Fill] = []

    def reported_qty(self, client_order_id: str) -> float:
        with self._lock:
            return self._reported.get(client_order_id, (0.0, 0.0))[0]

    def record(
        self,
        client_order_id: str,
        symbol: str,
        side: Side,
        cumulative_qty: float,
        avg_price: float | None,
        timestamp: datetime,
        execution_id: str,
        price: float | None = None,
        qty: float | None = None,
    ) -> Fill | None:
        """Queue the part of ``cumulative_qty`` not reported yet; None when nothing is new."""
        with self._lock:
            done_qty, done_cost = self._reported.get(client_order_id, (0.0, 0.0))
            delta = cumulative_qty - done_qty
            if delta <= _EPS:
                return None
            if price is not None and qty is not None and abs(qty - delta) <= _EPS:
                fill_price = price
            elif avg_price and done_qty <= _EPS:  # the first report: the average is its price
                fill_price = avg_price  # (avg * qty / qty can differ from avg in the last bit)
            elif avg_price:
                fill_price = (avg_price * cumulative_qty - done_cost) / delta
            else:
                fill_price = price or 0.0
            self._reported[client_order_id] = (cumulative_qty, done_cost + fill_price * delta)
            fill = Fill(
                client_order_id=client_order_id,
                symbol=symbol,
                side=side,
                qty=round(delta, 9),
                price=fill_price,
                timestamp=utc(timestamp),
                execution_id=execution_id,
                cum_qty=round(cumulative_qty, 9),
            )
            self._queue.append(fill)
            return fill

    def drain(self) -> list[Fill]:
        with self._lock:
            fills, self._queue = self._queue, []
        return fills
