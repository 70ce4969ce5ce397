"""Orders found by name in the state ib_async keeps in sync with TWS (call on its loop).

On connecting, ib_async fetches the open orders (ours, and here every client's), the completed
orders and today's executions, and keeps them current from then on. An order is found by its
``orderRef`` (the client order id, or ``<cid>/tp`` / ``<cid>/sl`` for a leg), in the trades or,
failing that, among the executions (an order filled under another client id).
"""

from __future__ import annotations

from typing import Any

from stratequeue.brokers.base import OrderAck
from stratequeue.models import OrderStatus

from .fills import ack_of, best_trade, oco_ack
from .orders import leg_refs

__all__ = ["Lookup"]


class Lookup:
    def __init__(self, ib: Any, account: str) -> None:
        self.ib = ib
        self.account = account

    def _ours(self, trade: Any) -> bool:
        return trade.order.account in ("", self.account)

    def executed(self, ref: str) -> float:
        """The cumulative quantity executed for ``ref`` today."""
        cums = [
            float(f.execution.cumQty)
            for f in self.ib.wrapper.fills.values()
            if f.execution.orderRef == ref
        ]
        return max(cums, default=0.0)

    def trades(self, ref: str) -> list[Any]:
        return [
            t for t in self.ib.wrapper.trades.values() if t.order.orderRef == ref and self._ours(t)
        ]

    def state(self, name: str, *, legs: bool = True) -> OrderAck | None:
        """What TWS shows for ``name`` (a client order id or a leg's; with ``legs``, also an
        OCO known by its legs only), or None when TWS has never seen it."""
        trade = best_trade(self.trades(name))
        if trade is not None:
            return ack_of(trade, name, self.executed(name))
        executed = self.executed(name)
        if executed:  # executions without the order (another client's): it exists
            return OrderAck(name, OrderStatus.UNKNOWN, filled_qty=executed, message="executed")
        if not legs:
            return None
        found = {}
        for ref in leg_refs(name):
            leg = self.state(ref, legs=False)
            if leg is not None:
                found[ref] = leg
        return oco_ack(name, found)

    def working(self, name: str) -> list[Any]:
        """The working IB orders ``name`` stands for (an OCO's: both legs)."""
        own = self.trades(name)
        if own:
            return [t for t in own if ack_of(t, name).status.is_open]
        return [
            t for ref in leg_refs(name) for t in self.trades(ref) if ack_of(t, ref).status.is_open
        ]

    def open_orders(self) -> list[OrderAck]:
        """Every working order, a bracket's or OCO's legs listed under their order's name."""
        names: dict[str, None] = {}
        for trade in self.ib.wrapper.trades.values():
            ref = trade.order.orderRef
            if ref and self._ours(trade) and ack_of(trade, ref).status.is_open:
                parent, _, leg = ref.rpartition("/")
                names[parent if leg in ("tp", "sl") and parent else ref] = None
        acks = [self.state(name) for name in names]
        return [a for a in acks if a is not None]
