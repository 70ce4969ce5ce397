"""Exit policy (``--on-exit``): keep open orders, cancel them, or cancel them and flatten.

Flattening closes every strategy's positions: at the last price inside the books with a
book-priced broker (:func:`flatten_at_last_price`), by market orders with a real broker
(:func:`flatten_by_orders`). Which one is the fill model's choice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..models import Bar, OrderIntent, OrderStatus, OrderType
from . import routing, summary
from .events import Event
from .state import Actions, ExitStep, Sleeve, book_intent, pending_refs

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["flatten_at_last_price", "flatten_by_orders", "on_exit"]


def on_exit(p: Portfolio, policy: str) -> list[Event]:
    """``--on-exit``: keep open orders, cancel them, or cancel them and flatten every
    strategy's positions (at the last price with the paper broker; by market orders with a
    real broker)."""
    from ..engine.flatten import drop_order

    events: list[Event] = []
    if policy == "keep" or p.broker is None:
        return events
    actions = Actions()
    with p.ledger.transaction():
        for cid, open_order in list(p.open_orders.items()):
            for sleeve, ref in open_order.legs:
                if ref in pending_refs(sleeve.runner):
                    drop_order(sleeve.runner, ref)
            del p.open_orders[cid]
            p.fills.end_order(cid, actions)
    events += routing.apply(p, actions, datetime.now(UTC))
    if policy == "flatten":
        events += p.fills.flatten()
    return events


def flatten_at_last_price(p: Portfolio) -> list[Event]:
    """Each book closes its positions at its symbol's last price; the executions are booked
    like a bar's."""
    from ..engine.flatten import close_now
    from .book_fills import executions

    now = datetime.now(UTC)
    stamp = f"exit-{now:%Y%m%dT%H%M%S}"
    events: list[Event] = []
    for symbol, sleeves in p.sleeves.items():
        price = p.last_price.get(symbol)
        if price is None:
            continue
        steps: list[tuple[Sleeve, Any]] = []
        for sleeve in sleeves:
            closed = close_now(sleeve.runner, price, stamp)
            if closed:
                steps.append((sleeve, ExitStep(closed)))
                p.ledger.add_sleeve_event(
                    sleeve.strategy_id, symbol, p.last_time.get(symbol), "exit", price, stamp
                )
        if not steps:
            continue
        bar = Bar(symbol, now, price, price, price, price)
        actions = Actions()
        with p.ledger.transaction():
            events += executions(p, bar, steps, actions)
            for cid in {cid for s, _ in steps for cid in [s.cids.get(stamp)] if cid}:
                p.ledger.update_order(cid, OrderStatus.FILLED, event="flattened on exit")
                p.open_orders.pop(cid, None)
                actions.finished.append((cid, True))
            summary.snapshot(p, now, sleeves)
        events += routing.apply(p, actions, now)
    return events


def flatten_by_orders(p: Portfolio) -> list[Event]:
    """Each book closes its positions by orders it has not sent yet, sent as market orders."""
    from ..engine.book import ref_of
    from ..engine.flatten import close_positions

    now = datetime.now(UTC)
    pairs: list[tuple[Sleeve, OrderIntent]] = []
    for sleeve in p.all_sleeves():
        if not sleeve.runner.position_size:
            continue
        close_positions(sleeve.runner)
        p.ledger.add_sleeve_event(
            sleeve.strategy_id, sleeve.symbol, p.last_time.get(sleeve.symbol), "close"
        )
        for order in sleeve.runner.orders:
            ref = ref_of(order)
            if ref and ref not in sleeve.cids:
                intent = book_intent(sleeve, ref)
                if intent is not None:
                    market = replace(
                        intent, order_type=OrderType.MARKET, limit=None, stop=None, parent_ref=None
                    )
                    pairs.append((sleeve, market))
    events: list[Event] = []
    actions = Actions()
    with p.ledger.transaction():
        routing.intents(p, pairs, events, actions)
    return events + routing.apply(p, actions, now)
