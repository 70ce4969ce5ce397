"""Brackets at the broker: a trade protected from its entry's first fill.

Where the broker declares :attr:`Capability.BRACKET` (Alpaca, for stocks), an entry with
``sl``/``tp`` goes out as ONE order of class ``bracket`` (``oto`` for one exit): the broker
holds its stop-loss and take-profit legs and makes them work as the entry fills, before
StrateQueue has seen that fill. When the fill arrives, the book creates the trade's
contingent SL/TP orders as usual; they are not sent again but *mapped* onto the legs: each
is recorded as an order ``<entry id>/sl`` or ``<entry id>/tp`` of class ``leg`` (the names
the broker plugin reports the legs' fills under, and accepts for get / cancel / replace), so
a leg's fill is booked into its contingent order and a restart (``resume_orders``) finds the
same mapping in the ledger. A leg is never sent on its own.

Later ``trade.sl`` / ``trade.tp`` edits replace the leg in place where the broker declares
:attr:`Capability.REPLACE`; elsewhere both legs are canceled and sent again as one OCO.
Crypto symbols, stop entries and a book holding the opposite side keep the other path:
a plain entry, then the SL/TP as one OCO after its fill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..brokers.base import Capability
from ..models import BrokerOrder, OrderIntent, OrderStatus, OrderType, Side
from .sizing import is_crypto
from .state import Actions, OpenOrder, Sleeve, book_intent

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["LEG", "bracket_class", "free_sibling", "map_leg", "replace_leg"]

#: ``orders.order_class`` of a bracket's leg in the ledger: placed with its entry, never sent.
LEG = "leg"
_SUFFIX = {OrderType.STOP: "sl", OrderType.LIMIT: "tp"}


def bracket_class(portfolio: Portfolio, sleeve: Sleeve, intent: OrderIntent) -> str | None:
    """``"bracket"`` / ``"oto"`` when ``intent`` goes out as one order with its exits, else
    None (no exits, a broker or symbol without brackets, a stop entry, or a book holding the
    other side, whose entry fill would close a trade before opening one)."""
    broker = portfolio.broker
    if (
        not portfolio.fills.real
        or broker is None
        or Capability.BRACKET not in broker.capabilities
        or intent.parent_ref is not None
        or (intent.sl is None and intent.tp is None)
        or intent.order_type not in (OrderType.MARKET, OrderType.LIMIT)
        or is_crypto(sleeve.symbol)
        or float(sleeve.runner.position_size) * intent.size < 0
    ):
        return None
    return "bracket" if intent.sl is not None and intent.tp is not None else "oto"


def map_leg(portfolio: Portfolio, sleeve: Sleeve, intent: OrderIntent) -> bool:
    """A trade's new SL/TP order whose entry went out as a bracket: record it as that leg
    (nothing is sent). False when the entry was not a bracket."""
    ledger = portfolio.ledger
    entry = sleeve.cids.get(intent.parent_ref or "")
    suffix = _SUFFIX.get(intent.order_type)
    row = ledger.order(entry) if entry and suffix else None
    if row is None or row["order_class"] not in ("bracket", "oto"):
        return False
    if (row["stop_loss"] if suffix == "sl" else row["take_profit"]) is None:
        return False  # an oto without this exit
    cid = f"{entry}/{suffix}"
    ledger.record_intent(portfolio.run_id, intent, cid)
    order = BrokerOrder(
        cid,
        sleeve.symbol,
        Side.SELL if row["side"] == Side.BUY.value else Side.BUY,
        row["qty"],  # the broker's leg is for the entry's whole quantity
        intent.order_type,
        intent.limit,
        intent.stop,
        time_in_force=row["time_in_force"] or "day",
        order_class=LEG,
    )
    if ledger.record_order(
        portfolio.run_id, order, [(sleeve.strategy_id, intent.ref, intent.size)]
    ):
        ledger.update_order(cid, OrderStatus.ACCEPTED, event=f"leg of bracket {entry}")
    sleeve.cids[intent.ref] = cid
    open_order = portfolio.open_orders.setdefault(cid, OpenOrder(cid, sleeve.symbol, []))
    open_order.legs.append((sleeve, intent.ref))  # a second partial fill adds its trade's order
    return True


def free_sibling(portfolio: Portfolio, cid: str) -> None:
    """A leg filled: the broker cancels the other leg itself (one cancels the other)."""
    entry, _, suffix = cid.rpartition("/")
    sibling = f"{entry}/{'tp' if suffix == 'sl' else 'sl'}"
    if suffix in _SUFFIX.values() and portfolio.open_orders.pop(sibling, None) is not None:
        portfolio.ledger.update_order(
            sibling, OrderStatus.CANCELED, event=f"canceled by the broker: {cid} filled"
        )


def replace_leg(
    portfolio: Portfolio, sleeve: Sleeve, ref: str, actions: Actions
) -> list[str] | None:
    """New SL/TP prices for a bracket's leg. With Capability.REPLACE the leg is replaced at the
    broker (same name) and [] is returned; without it, the open legs to cancel and send again
    as one OCO. None when ``ref`` is held by no open leg."""
    cid = sleeve.cids.get(ref, "")
    row = portfolio.ledger.order(cid)
    if row is None or row["order_class"] != LEG or cid not in portfolio.open_orders:
        return None
    broker = portfolio.broker
    if broker is not None and Capability.REPLACE in broker.capabilities:
        intent = book_intent(sleeve, ref)
        if intent is not None:
            actions.replaces.append((cid, intent.limit, intent.stop))
        return []
    entry = cid.rpartition("/")[0]
    return [c for c in (f"{entry}/sl", f"{entry}/tp") if c in portfolio.open_orders]
