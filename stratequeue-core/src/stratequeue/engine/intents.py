"""Order intents: the difference between the book's order list before and after a bar.

Every order in the book carries a deterministic ref (``<bar time>-<seq>``, stamped when it is
created). New orders become NEW intents, orders that vanish without filling become CANCEL,
and an SL/TP edit (``trade.sl = x``, which backtesting does as cancel + create) becomes a
REPLACE of the same leg under its old ref, so a broker can amend the order it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backtesting.backtesting import Order

from ..models import IntentAction, OrderIntent, OrderType
from .book import ref_of, set_ref

__all__ = ["OrderTracker", "order_type", "leg_of"]


def order_type(order: Order) -> OrderType:
    if order.limit is not None and order.stop is not None:
        return OrderType.STOP_LIMIT
    if order.limit is not None:
        return OrderType.LIMIT
    if order.stop is not None:
        return OrderType.STOP
    return OrderType.MARKET


def leg_of(order: Order) -> str | None:
    """``sl`` / ``tp`` for a trade's bracket order, ``close`` for Trade.close(), else None."""
    trade = order.parent_trade
    if trade is None:
        return None
    if order is trade._sl_order:
        return "sl"
    if order is trade._tp_order:
        return "tp"
    return "close"


@dataclass
class _Known:
    order: Order
    leg: str | None
    signature: tuple[Any, ...]


def _ref(order: Order) -> str:
    ref = ref_of(order)
    assert ref is not None, order
    return ref


def _signature(order: Order) -> tuple[Any, ...]:
    return (order.size, order.limit, order.stop, order.sl, order.tp)


class OrderTracker:
    """Remembers the book's orders as last reported and turns changes into intents."""

    def __init__(self, strategy_id: str, symbol: str) -> None:
        self.strategy_id = strategy_id
        self.symbol = symbol
        self._known: dict[str, _Known] = {}

    def adopt(self, orders: list[Order], new_ref: Any) -> list[Order]:
        """Stamp refs on ``orders`` (in book order) and remember them without intents."""
        for order in orders:
            set_ref(order, new_ref())
        self._known = {_ref(o): _Known(o, leg_of(o), _signature(o)) for o in orders}
        return orders

    def forget(self, ref: str) -> None:
        """Drop an order the broker removed itself: no CANCEL intent for it."""
        self._known.pop(ref, None)

    def forget_changes(self, order: Order) -> None:
        """Accept an order's current prices/size as reported (after a partial fill)."""
        known = self._known.get(ref_of(order) or "")
        if known is not None:
            known.signature = _signature(order)

    def label(self, orders: list[Order], new_ref: Any) -> None:
        """Stamp a ref on orders created without ``new_order`` (``Trade.close()``)."""
        for order in orders:
            if ref_of(order) is None:
                set_ref(order, new_ref())

    def diff(
        self,
        orders: list[Order],
        filled: set[str],
        bar_time: datetime,
        reference_price: float | None,
        new_ref: Any,
    ) -> tuple[list[OrderIntent], list[str]]:
        """Intents turning the remembered order list into ``orders``; also the canceled refs."""
        if not orders and not self._known:
            return [], []
        self.label(orders, new_ref)
        current = {_ref(o): o for o in orders}
        known = self._known
        removed = [ref for ref in known if ref not in current]
        added = [ref for ref in current if ref not in known]
        intents: list[OrderIntent] = []
        canceled: list[str] = []

        # A bracket leg canceled and re-created for the same trade is a REPLACE under the old ref.
        open_legs = {
            (id(known[r].order.parent_trade), known[r].leg): r
            for r in removed
            if known[r].leg in ("sl", "tp") and r not in filled
        }
        relabeled: dict[str, str] = {}
        for ref in added:
            order = current[ref]
            leg = leg_of(order)
            old = (
                open_legs.pop((id(order.parent_trade), leg), None) if leg in ("sl", "tp") else None
            )
            if old is not None:
                relabeled[ref] = old
        for new, old in relabeled.items():
            order = current.pop(new)
            set_ref(order, old)
            current[old] = order
            added.remove(new)
            removed.remove(old)
            if _signature(order) != known[old].signature:
                intents.append(
                    self._intent(order, old, IntentAction.REPLACE, bar_time, reference_price)
                )

        for ref in removed:
            if ref not in filled:
                canceled.append(ref)
                intents.append(self._cancel(known[ref].order, ref, bar_time, reference_price))
        for ref in list(current):
            if ref in known and ref not in relabeled.values():
                before = known[ref]
                sig = _signature(current[ref])
                if sig != before.signature and not _stop_triggered(before.signature, sig):
                    intents.append(
                        self._intent(
                            current[ref], ref, IntentAction.REPLACE, bar_time, reference_price
                        )
                    )
        for ref in added:
            intents.append(
                self._intent(current[ref], ref, IntentAction.NEW, bar_time, reference_price)
            )

        self._known = {ref: _Known(o, leg_of(o), _signature(o)) for ref, o in current.items()}
        return intents, canceled

    def _intent(
        self,
        order: Order,
        ref: str,
        action: IntentAction,
        bar_time: datetime,
        reference_price: float | None,
    ) -> OrderIntent:
        trade = order.parent_trade
        return OrderIntent(
            strategy_id=self.strategy_id,
            symbol=self.symbol,
            bar_time=bar_time,
            ref=ref,
            action=action,
            size=float(order.size),
            order_type=order_type(order),
            limit=order.limit,
            stop=order.stop,
            sl=order.sl,
            tp=order.tp,
            tag=None if order.tag is None else str(order.tag),
            parent_ref=ref_of(trade) if trade is not None else None,
            reference_price=reference_price,
        )

    def _cancel(
        self, order: Order, ref: str, bar_time: datetime, reference_price: float | None
    ) -> OrderIntent:
        trade = order.parent_trade
        return OrderIntent(
            strategy_id=self.strategy_id,
            symbol=self.symbol,
            bar_time=bar_time,
            ref=ref,
            action=IntentAction.CANCEL,
            size=float(order.size),
            order_type=order_type(order),
            limit=order.limit,
            stop=order.stop,
            tag=None if order.tag is None else str(order.tag),
            parent_ref=ref_of(trade) if trade is not None else None,
            reference_price=reference_price,
        )

    def pending(self, bar_time: datetime, reference_price: float | None) -> list[OrderIntent]:
        """NEW intents for every remembered order (what is pending after a warm start)."""
        return [
            self._intent(k.order, ref, IntentAction.NEW, bar_time, reference_price)
            for ref, k in self._known.items()
        ]


def _stop_triggered(before: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
    """The book cleared a stop price because it was hit: the broker's own business."""
    return (
        before[2] is not None
        and after[2] is None
        and before[:2] == after[:2]
        and before[3:] == after[3:]
    )
