"""Order routing and netting: the books' new intents become broker orders.

Market orders of several strategies on one symbol in one bar become ONE netted order
(opposite intents cross inside it); limit, stop and SL/TP orders are sent one by one. What a
trade's exits (SL/TP, ``Trade.close()``), cancels and price changes do at the broker is the fill
model's (``fill_model.py``). Everything here is recorded in the ledger inside the bar's
transaction; :func:`apply` tells the broker once that transaction has committed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..models import BrokerOrder, IntentAction, OrderIntent, OrderStatus, OrderType
from . import brackets, rails
from .events import Event, RejectEvent, SignalEvent
from .ids import client_order_id, netted_order_id
from .state import Actions, OpenOrder, Sleeve, real_status

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["apply", "intents", "order", "send", "submit"]

log = logging.getLogger(__name__)


def intents(
    p: Portfolio,
    pairs: Sequence[tuple[Sleeve, OrderIntent]],
    events: list[Event],
    actions: Actions,
) -> None:
    """Record the books' intents and turn them into orders (into ``actions``)."""
    netted: dict[str, list[tuple[Sleeve, OrderIntent]]] = defaultdict(list)
    exits: dict[tuple[str, str, str], list[tuple[Sleeve, OrderIntent]]] = defaultdict(list)
    for sleeve, intent in pairs:
        if intent.action is IntentAction.NEW:
            events.append(_signal(p, sleeve, intent))
            rule = rails.refused_by(p, sleeve, intent)
            if rule is not None:
                events.append(rails.refuse(p, sleeve, intent, rule))
                continue
            if (
                intent.order_type is OrderType.MARKET
                and intent.parent_ref is None
                and brackets.bracket_class(p, sleeve, intent) is None
            ):
                netted[sleeve.symbol].append((sleeve, intent))
                continue
            if intent.parent_ref is not None and p.fills.route_exit(
                sleeve, intent, netted, exits, actions
            ):
                continue
            cid = client_order_id(p.ledger_id, sleeve.strategy_id, sleeve.symbol, intent.ref)
            p.ledger.record_intent(p.run_id, intent, cid)
            actions.orders.append(order(p, cid, [(sleeve, intent)]))
        elif intent.action is IntentAction.CANCEL:
            p.ledger.record_intent(p.run_id, intent, sleeve.cids.get(intent.ref))
            events.append(_signal(p, sleeve, intent))
            p.fills.withdraw(sleeve, intent.ref, actions)
        else:  # REPLACE: the book changed a pending order's prices (trade.sl / trade.tp)
            p.ledger.record_intent(p.run_id, intent, sleeve.cids.get(intent.ref))
            p.fills.reprice(sleeve, intent.ref, actions)
    for symbol, group in netted.items():
        group.sort(key=lambda pair: pair[1].parent_ref is None)  # closes first, as in a book
        legs = [(s.strategy_id, i.ref) for s, i in group]
        cid = (
            client_order_id(p.ledger_id, group[0][0].strategy_id, symbol, group[0][1].ref)
            if len(group) == 1
            else netted_order_id(p.ledger_id, symbol, legs)
        )
        for _sleeve, intent in group:
            p.ledger.record_intent(p.run_id, intent, cid)
        actions.orders.append(order(p, cid, group))
    for group in exits.values():
        sleeve, first = group[0]
        cid = client_order_id(p.ledger_id, sleeve.strategy_id, sleeve.symbol, first.ref)
        for _sleeve, intent in group:
            p.ledger.record_intent(p.run_id, intent, cid)
        actions.orders.append(order(p, cid, group))


def order(p: Portfolio, cid: str, group: Sequence[tuple[Sleeve, OrderIntent]]) -> BrokerOrder:
    """One broker order for ``group`` (one intent, or several netted), recorded with its legs
    and tracked as open."""
    first = group[0][1]
    qty, side, leg_sizes = p.fills.size(group)
    new = BrokerOrder(
        cid,
        first.symbol,
        side,
        qty,
        first.order_type,
        first.limit,
        first.stop,
        time_in_force="gtc" if first.order_type is not OrderType.MARKET else "day",
    )
    order_class = brackets.bracket_class(p, group[0][0], first) if len(group) == 1 else None
    if order_class is not None:  # the entry carries its exits: protected from its first fill
        new = replace(new, take_profit=first.tp, stop_loss=first.sl, order_class=order_class)
    kinds = {i.order_type for _, i in group}
    if (  # a trade's SL and TP: one OCO exit
        len(group) == 2
        and kinds == {OrderType.STOP, OrderType.LIMIT}
        and all(i.parent_ref is not None for _, i in group)
    ):
        stop = next(i.stop for _, i in group if i.order_type is OrderType.STOP)
        limit = next(i.limit for _, i in group if i.order_type is OrderType.LIMIT)
        new = replace(
            new,
            qty=abs(group[0][0].runner.units.intent_qty(first)),
            order_type=OrderType.LIMIT,
            limit_price=limit,
            stop_price=None,
            take_profit=limit,
            stop_loss=stop,
            order_class="oco",
        )
        leg_sizes = [s.runner.units.intent_qty(i) for s, i in group]
    p.ledger.record_order(
        p.run_id,
        new,
        [(s.strategy_id, i.ref, size) for (s, i), size in zip(group, leg_sizes, strict=True)],
    )
    for sleeve, intent in group:
        sleeve.cids[intent.ref] = cid
    p.open_orders[cid] = OpenOrder(cid, first.symbol, [(s, i.ref) for s, i in group])
    return new


# -- after the commit: tell the broker ---------------------------------------------------------
def apply(p: Portfolio, actions: Actions, when: datetime) -> list[Event]:
    """Tell the broker what a committed bar decided: cancels, replaces, new orders, then the
    fills the books made (book-priced brokers)."""
    events: list[Event] = []
    broker = p.broker
    for cid in actions.cancels:  # only a real broker's exits and exit policy cancel
        if broker is not None:
            ack = broker.cancel_order(cid)
            p.ledger.update_order(cid, real_status(ack.status), event="cancel", message=ack.message)
    for cid, limit, stop in actions.replaces:
        if broker is not None:
            ack = broker.replace_order(cid, cid, limit_price=limit, stop_price=stop)
            row = p.ledger.order(cid)
            p.ledger.update_order(
                cid,
                OrderStatus(row["status"]) if row else OrderStatus.ACCEPTED,
                event="replace" if ack.status.is_open else f"replace {ack.status.value}",
                message=ack.message or (f"stop {stop}" if stop is not None else f"limit {limit}"),
                broker_order_id=ack.broker_order_id or None,
            )
    for new in actions.orders:
        events += send(p, new, when)
    if actions.fills or actions.finished:
        p.fills.settle(actions)
    return events


def send(p: Portfolio, new: BrokerOrder, when: datetime) -> list[Event]:
    """Send one order already committed to the ledger (signals only: record it as such)."""
    if p.broker is None:
        p.ledger.update_order(new.client_order_id, OrderStatus.ACCEPTED, event="signal-only")
        return []
    return p.fills.send(new, when)


def submit(
    p: Portfolio, new: BrokerOrder, when: datetime
) -> tuple[RejectEvent | None, OpenOrder | None]:
    """Submit to the broker and record its answer. When the broker rejected the order: its
    rejection, and the open order it was (no longer tracked)."""
    assert p.broker is not None
    ack = p.broker.submit_order(new)
    log.debug(
        "order %s %s %s %s qty=%s limit=%s stop=%s class=%s -> %s %s",
        new.client_order_id,
        new.symbol,
        new.side.value,
        new.order_type.value,
        new.qty,
        new.limit_price,
        new.stop_price,
        new.order_class,
        ack.status.value,
        ack.message,
    )
    current = p.ledger.order(new.client_order_id)
    done = current is not None and not OrderStatus(current["status"]).is_open
    p.ledger.update_order(
        new.client_order_id,
        OrderStatus(current["status"]) if done and current else p.fills.ledger_status(ack.status),
        event="sent",
        message=ack.message,
        broker_order_id=ack.broker_order_id or None,
    )
    if ack.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
        p.unsure.add(new.client_order_id)  # never taken for rejected: it may be held
    else:
        p.unsure.discard(new.client_order_id)
    if ack.status is not OrderStatus.REJECTED:
        return None, None
    open_order = p.open_orders.pop(new.client_order_id, None)
    strategies = tuple(s.strategy_id for s, _ in open_order.legs) if open_order else ()
    reject = RejectEvent(new.symbol, when, new.client_order_id, ack.message, strategies)
    return reject, open_order


def _signal(p: Portfolio, sleeve: Sleeve, intent: OrderIntent) -> SignalEvent:
    price = intent.reference_price or p.last_price.get(sleeve.symbol, 0.0)
    equity = float(sleeve.runner.equity)
    if intent.is_fraction:
        amount = abs(intent.size) * equity
    else:
        amount = abs(sleeve.runner.units.intent_qty(intent)) * (
            intent.limit or intent.stop or price
        )
    if intent.action is IntentAction.CANCEL:
        action = "CANCEL"
    elif intent.parent_ref is not None:
        action = "CLOSE"
    else:
        action = "BUY" if intent.size > 0 else "SELL"
    share = amount / sleeve.capital if sleeve.capital else 0.0
    p.ledger.record_signal(
        p.run_id,
        sleeve.strategy_id,
        sleeve.symbol,
        intent.bar_time,
        action,
        price,
        intent.size,
        {
            "ref": intent.ref,
            "order_type": intent.order_type.value,
            "limit": intent.limit,
            "stop": intent.stop,
            "sl": intent.sl,
            "tp": intent.tp,
        },
    )
    return SignalEvent(
        sleeve.strategy_id,
        sleeve.symbol,
        intent.bar_time,
        action,
        price,
        amount,
        share,
        intent.order_type.value,
    )
