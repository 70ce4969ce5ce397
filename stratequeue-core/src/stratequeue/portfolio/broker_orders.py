"""A trade's exits at a real broker: what the book does to its SL/TP and close orders, done
at the broker without selling twice.

backtesting.py holds a trade's SL/TP as contingent orders and drops them when the trade
closes; a broker holds them as working orders that would still execute. So a ``Trade.close()``
first withdraws the trade's resting exits, a second close of a trade already being closed is
not sent, a canceled exit is canceled at the broker (its OCO sibling, if still wanted, is sent
on its own), and new SL/TP prices replace the working order (brackets.py for a bracket's legs).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..models import OrderIntent, OrderType
from . import brackets, routing
from .ids import client_order_id
from .state import Actions, Sleeve, book_intent, pending_refs

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["cancel_leg", "replace_leg", "route_exit"]

log = logging.getLogger(__name__)


def route_exit(
    p: Portfolio,
    sleeve: Sleeve,
    intent: OrderIntent,
    netted: dict[str, list[tuple[Sleeve, OrderIntent]]],
    exits: dict[tuple[str, str, str], list[tuple[Sleeve, OrderIntent]]],
    actions: Actions,
) -> bool:
    """A trade's new exit order (``intent.parent_ref`` set). True when it is taken care of here
    (a bracket's leg, one side of an OCO, netted, or not to be sent); False to send it alone."""
    if intent.order_type in (OrderType.STOP, OrderType.LIMIT):
        # a trade's SL / TP: a leg of its entry's bracket, or paired into one OCO
        if not brackets.map_leg(p, sleeve, intent):
            exits[(sleeve.strategy_id, sleeve.symbol, intent.parent_ref or "")].append(
                (sleeve, intent)
            )
        return True
    # Trade.close()
    if _close_is_covered(p, sleeve, intent):
        return True
    _withdraw_exits(p, sleeve, intent.parent_ref or "", actions)
    if intent.order_type is OrderType.MARKET:
        # netted with the bar's other market orders: a close and a reversal are one order
        # (a broker refuses a second sell of shares that a working sell already holds)
        netted[sleeve.symbol].append((sleeve, intent))
        return True
    return False


def _close_is_covered(p: Portfolio, sleeve: Sleeve, intent: OrderIntent) -> bool:
    """A strategy closes a trade again (``position.close()`` on every bar) while its first
    close order is still working at the broker, unfilled or unseen: in a backtest the
    first close fills at the next open and the second finds the trade closed and does
    nothing; at a real broker both would sell. The new close is dropped from the book
    (recorded, so a rebuild drops it too) and nothing is sent. Partial closes that do not
    yet cover the trade still go out."""
    from ..engine.book import ref_of
    from ..engine.flatten import drop_order

    trade = next((t for t in sleeve.runner.open_trades if ref_of(t) == intent.parent_ref), None)
    if trade is None:
        return False
    working = [
        order
        for order in sleeve.runner.orders
        if order.parent_trade is trade
        and not order.is_contingent
        and ref_of(order) != intent.ref
        and sleeve.cids.get(ref_of(order) or "") in p.open_orders
    ]
    if sum(abs(order.size) for order in working) < abs(trade.size):
        return False
    p.ledger.record_intent(p.run_id, intent, None)
    drop_order(sleeve.runner, intent.ref)
    p.ledger.add_sleeve_event(
        sleeve.strategy_id, sleeve.symbol, intent.bar_time, "refuse", ref=intent.ref
    )
    log.info(
        "%s %s: close of trade %s already working at the broker as %s; not sent again",
        sleeve.strategy_id,
        sleeve.symbol,
        intent.parent_ref,
        sleeve.cids.get(ref_of(working[0]) or ""),
    )
    return True


def _withdraw_exits(p: Portfolio, sleeve: Sleeve, trade_ref: str, actions: Actions) -> None:
    """A strategy closes a trade (``Trade.close()``, ``position.close()``) with a market
    order: the trade's SL/TP exit resting at the broker is canceled before that order is
    sent. Otherwise both can execute in the next bar and the account sells twice, where
    backtesting.py fills the close and drops the trade's SL/TP. The book keeps its SL/TP
    orders until the close fills (it then drops them, as backtesting.py does)."""
    from ..engine.book import ref_of

    for order in sleeve.runner.orders:
        trade = order.parent_trade
        if trade is None or not order.is_contingent or ref_of(trade) != trade_ref:
            continue
        cid = sleeve.cids.get(ref_of(order) or "")
        if cid is not None and p.open_orders.pop(cid, None) is not None:
            actions.cancels.append(cid)  # a bracket's legs: each canceled by its name


def cancel_leg(p: Portfolio, sleeve: Sleeve, ref: str, actions: Actions) -> None:
    """A strategy canceled an order (or its book canceled an OCO sibling): once no leg of
    the broker order is wanted any more, cancel it at the broker."""
    cid = sleeve.cids.get(ref)
    open_order = p.open_orders.get(cid or "")
    if cid is None or open_order is None:
        return  # already filled or closed at the broker
    open_order.legs = [
        (s, r)
        for s, r in open_order.legs
        if not (s is sleeve and r == ref) and r in pending_refs(s.runner)
    ]
    if not open_order.legs:
        del p.open_orders[cid]
        actions.cancels.append(cid)
    elif (p.ledger.order(cid) or {}).get("order_class") == "oco":
        # The strategy dropped one exit of its trade (``order.cancel()`` on its TP or SL)
        # and keeps the other: the broker's OCO would still execute the dropped one. It is
        # canceled and the exit still wanted is sent on its own.
        survivor, survivor_ref = open_order.legs[0]
        replace_leg(p, survivor, survivor_ref, actions)


def replace_leg(p: Portfolio, sleeve: Sleeve, ref: str, actions: Actions) -> None:
    """New SL/TP prices: a bracket's leg is replaced at the broker (brackets.py); else cancel
    the broker order holding ``ref`` and send it again with the book's current prices (an
    OCO is sent again as a pair), under a new client order id."""
    cid = sleeve.cids.get(ref)
    if cid is None or cid not in p.open_orders:
        return
    if any(order.client_order_id == cid for order in actions.orders):
        return  # sent in this batch already, every leg at the book's current prices
    cids = brackets.replace_leg(p, sleeve, ref, actions)
    cids = [cid] if cids is None else cids
    legs = [leg for c in cids for leg in p.open_orders.pop(c).legs]
    actions.cancels += cids
    if not legs:  # replaced in place
        return
    revision = 1 + sum(1 for c in sleeve.cids.values() if c.startswith(cid))
    group = [(s, book_intent(s, r)) for s, r in legs]
    new_cid = client_order_id(p.ledger_id, sleeve.strategy_id, sleeve.symbol, f"{ref}~{revision}")
    actions.orders.append(routing.order(p, new_cid, [(s, i) for s, i in group if i is not None]))
