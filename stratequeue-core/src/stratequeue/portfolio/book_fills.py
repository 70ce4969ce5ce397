"""Fills from the books: the paper broker, a replay, and signals only (no broker).

The strategies' backtesting.py books decide every fill, exactly as in a backtest. Per bar,
each order's executions are netted into one fill at their average price and attributed back
to each strategy at its own price; the fill is committed to the ledger and then booked at the
book-priced broker (:meth:`BookFills.settle`). No quantity is sent: the broker takes the sizes
from the books' fills. With no broker (signals only) the fills are shown as hypothetical.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..brokers.base import BookPricedBroker
from ..ledger import Allocation
from ..models import Bar, BrokerOrder, Fill, OrderIntent, OrderStatus, OrderType, Side
from . import exits, routing
from .events import Event, FillEvent
from .ids import client_order_id
from .state import Actions, BookFill, OpenOrder, Sleeve, pending_refs, record_trade

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["BookFills"]

log = logging.getLogger(__name__)


class BookFills:
    """The fill model of a book-priced broker (paper, replay) and of signals only."""

    #: fills are the books' own, not reported by a broker
    real = False

    def __init__(self, portfolio: Portfolio) -> None:
        self.p = portfolio
        broker = portfolio.broker
        self.broker = broker if isinstance(broker, BookPricedBroker) else None

    # -- the bar ----------------------------------------------------------------------------
    def before_bar(self, when: datetime) -> list[Event]:
        return []

    def after_step(
        self, bar: Bar, steps: Sequence[tuple[Sleeve, Any]], actions: Actions
    ) -> list[Event]:
        """The books' executions become fills; orders whose legs all left their books end."""
        events = executions(self.p, bar, steps, actions)
        self._close_finished(bar.symbol, actions)
        return events

    def _close_finished(self, symbol: str, actions: Actions) -> None:
        """Orders of this symbol whose every leg has left its book are done."""
        p = self.p
        for cid, open_order in list(p.open_orders.items()):
            if open_order.symbol != symbol:
                continue
            if any(ref in pending_refs(s.runner) for s, ref in open_order.legs):
                continue
            # the ledger is asked only when this bar booked no fill of it (the fills table is
            # not indexed by order: its scan grows with the ledger's history)
            qty = sum(f.fill.qty for f in actions.fills if f.fill.client_order_id == cid)
            if not qty:
                qty = p.ledger.filled_qty(cid)
            filled = qty > 0
            status = OrderStatus.FILLED if filled else OrderStatus.CANCELED
            p.ledger.update_order(
                cid, status, event=status.value, filled_qty=qty if filled else None
            )
            actions.finished.append((cid, filled))
            del p.open_orders[cid]

    # -- orders -----------------------------------------------------------------------------
    def route_exit(
        self,
        sleeve: Sleeve,
        intent: OrderIntent,
        netted: dict[str, list[tuple[Sleeve, OrderIntent]]],
        exits: dict[tuple[str, str, str], list[tuple[Sleeve, OrderIntent]]],
        actions: Actions,
    ) -> bool:
        return False  # a trade's exits are the book's: sent one by one

    def withdraw(self, sleeve: Sleeve, ref: str, actions: Actions) -> None:
        """A canceled order leaves its book; the order ends with the bar (_close_finished)."""

    def reprice(self, sleeve: Sleeve, ref: str, actions: Actions) -> None:
        """New SL/TP prices live in the book, which fills at them."""

    def size(self, group: Sequence[tuple[Sleeve, OrderIntent]]) -> tuple[None, Side, list[float]]:
        """No quantity is sent: the legs keep the books' sizes (real quantities, or
        fractions of the margin)."""
        sizes = [s.runner.units.intent_qty(i) for s, i in group]
        return None, Side.BUY if sum(sizes) > 0 else Side.SELL, sizes

    def send(self, order: BrokerOrder, when: datetime) -> list[Event]:
        reject, _ = routing.submit(self.p, order, when)
        return [reject] if reject is not None else []

    def ledger_status(self, status: OrderStatus) -> OrderStatus:
        return status

    def settle(self, actions: Actions) -> None:
        """Book the committed fills at the broker and close the orders the books finished."""
        broker = self.broker
        if broker is None:
            return
        for item in actions.fills:
            f = item.fill
            broker.fill_from_book(
                f.client_order_id,
                item.signed_qty,
                f.price,
                f.timestamp,
                f.commission,
                final=False,
                execution_id=f.execution_id,
                cash_flow=item.cash_flow,
            )
        for cid, filled in actions.finished:
            broker.close_book_order(cid, filled=filled)

    def poll(self, before: datetime | None) -> list[Event]:
        return []  # no fills arrive on their own

    # -- the end of a run -------------------------------------------------------------------
    def end_order(self, cid: str, actions: Actions) -> None:
        """``--on-exit cancel``: the order ends in the ledger and at the broker's book."""
        self.p.ledger.update_order(cid, OrderStatus.CANCELED, event="canceled on exit")
        actions.finished.append((cid, False))

    def flatten(self) -> list[Event]:
        return exits.flatten_at_last_price(self.p)


def executions(
    p: Portfolio, bar: Bar, steps: Sequence[tuple[Sleeve, Any]], actions: Actions
) -> list[Event]:
    """The books' executions of one bar, as one fill per order."""
    by_cid: dict[str, list[tuple[Sleeve, Any]]] = defaultdict(list)
    for sleeve, step in steps:
        for execution in step.executions:
            record_trade(p.ledger, sleeve, execution)
            cid = sleeve.cids.get(execution.order_ref)
            if cid is None:
                cid = _book_initiated_order(p, sleeve, execution, actions)
            by_cid[cid].append((sleeve, execution))
    return [_fill(p, bar, cid, items, actions) for cid, items in by_cid.items()]


def _book_initiated_order(p: Portfolio, sleeve: Sleeve, execution: Any, actions: Actions) -> str:
    """An order the book created and filled within one bar (an SL hit on its entry bar, a
    liquidation): recorded like any other order, before its fill."""
    cid = client_order_id(p.ledger_id, sleeve.strategy_id, sleeve.symbol, execution.order_ref)
    side = Side.BUY if execution.fill_qty > 0 else Side.SELL
    order = BrokerOrder(cid, sleeve.symbol, side, None, OrderType.MARKET)
    p.ledger.record_order(
        p.run_id, order, [(sleeve.strategy_id, execution.order_ref, execution.fill_qty)]
    )
    sleeve.cids[execution.order_ref] = cid
    p.open_orders[cid] = OpenOrder(cid, sleeve.symbol, [(sleeve, execution.order_ref)])
    actions.orders.append(order)
    return cid


def _fill(
    p: Portfolio, bar: Bar, cid: str, items: list[tuple[Sleeve, Any]], actions: Actions
) -> Event:
    net = sum(e.fill_qty for _, e in items)
    flow = sum(e.fill_qty * e.price for _, e in items)
    commission = sum(e.commission for _, e in items)
    price = flow / net if abs(net) > 1e-12 else items[0][1].price
    side = Side.BUY if net > 0 else Side.SELL
    strategies = tuple((s.strategy_id, e.fill_qty) for s, e in items)
    event = FillEvent(
        bar.symbol,
        bar.timestamp,
        side.value.upper(),
        abs(net),
        price,
        cid,
        strategies,
        hypothetical=p.broker is None,
    )
    if p.broker is None:
        return event
    log.debug(
        "book fill %s %s net=%s @ %s (%s)",
        cid,
        bar.symbol,
        net,
        price,
        ", ".join(f"{s.strategy_id} {e.fill_qty:+g}@{e.price}" for s, e in items),
    )
    fill = Fill(
        cid,
        bar.symbol,
        side,
        abs(net),
        price,
        bar.timestamp,
        commission,
        f"{cid}-{bar.timestamp:%Y%m%dT%H%M%S}",
    )
    allocations = [
        Allocation(s.strategy_id, s.symbol, e.order_ref, e.fill_qty, e.price, e.commission)
        for s, e in items
    ]
    p.ledger.record_fill(fill, allocations)
    actions.fills.append(BookFill(fill, net, flow + commission))
    return event
