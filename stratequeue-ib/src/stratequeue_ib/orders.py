"""StrateQueue orders as IB orders, and IB order states as StrateQueue's.

Every IB order carries the client order id in ``orderRef``; a bracket's and an OCO's legs carry
``<cid>/tp`` and ``<cid>/sl``, so every fill names its order and a restart finds every leg
by its name. A bracket is the parent, its take-profit limit and its stop-loss stop, linked by
``parentId`` and transmitted together by the last; an OCO is the two exits in one ``ocaGroup``
(a fill of one cancels the other).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side

__all__ = ["OrderRefused", "build_orders", "leg_refs", "status_of"]

_TYPES = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
}
_TIF = {"day": "DAY", "gtc": "GTC", "ioc": "IOC", "fok": "FOK", "opg": "OPG"}
#: TWS's states of an order that can still execute (or is about to be sent)
#: TWS's answers to a cancel (not refusals of the order)
_CANCEL_CODES = {202, 161, 10148}
_WORKING = {"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel"}


class OrderRefused(Exception):
    """What IB would refuse, found before sending: the order goes back REJECTED."""


def leg_refs(cid: str) -> tuple[str, str]:
    return f"{cid}/tp", f"{cid}/sl"


def _whole(order: BrokerOrder) -> float:
    if order.notional is not None or order.qty is None:
        raise OrderRefused("IB's API takes share quantities only (no notional orders)")
    if order.qty != int(order.qty) or order.qty <= 0:
        raise OrderRefused(
            f"IB's API takes whole shares only; {order.qty:g} is not (the portfolio converts "
            "fraction orders to whole shares before sending)"
        )
    return float(order.qty)


def _price(value: float | None) -> float:
    return round(value, 8) if value is not None else 0.0


def _single(order: BrokerOrder, action: str, qty: float, ref: str, **extra: Any) -> Any:
    from ib_async import Order

    kind = _TYPES.get(order.order_type)
    if kind is None:
        raise OrderRefused(f"the IB plugin does not send {order.order_type} orders")
    terms: dict[str, Any] = {}
    if kind in ("LMT", "STP LMT"):
        if order.limit_price is None:
            raise OrderRefused(f"a {order.order_type} order needs a limit price")
        terms["lmtPrice"] = _price(order.limit_price)
    if kind in ("STP", "STP LMT"):
        if order.stop_price is None:
            raise OrderRefused(f"a {order.order_type} order needs a stop price")
        terms["auxPrice"] = _price(order.stop_price)
    return Order(
        action=action,
        totalQuantity=qty,
        orderType=kind,
        orderRef=ref,
        tif=_TIF.get(order.time_in_force.lower(), "DAY"),
        **terms,
        **extra,
    )


def build_orders(order: BrokerOrder, account: str, next_id: Callable[[], int]) -> list[Any]:
    """The IB orders to place for ``order``, in sending order (the last one transmits)."""
    from ib_async import LimitOrder, StopOrder

    qty = _whole(order)
    action = "BUY" if order.side is Side.BUY else "SELL"
    exit_action = "SELL" if order.side is Side.BUY else "BUY"
    tif = _TIF.get(order.time_in_force.lower(), "DAY")
    tp_ref, sl_ref = leg_refs(order.client_order_id)
    if order.order_class == "oco":
        take = order.take_profit if order.take_profit is not None else order.limit_price
        if take is None or order.stop_loss is None:
            raise OrderRefused("an OCO exit needs a take-profit and a stop-loss price")
        group = f"sq-oca-{order.client_order_id}"
        legs = [
            LimitOrder(action, qty, _price(take), orderRef=tp_ref, tif=tif),
            StopOrder(action, qty, _price(order.stop_loss), orderRef=sl_ref, tif=tif),
        ]
        for leg in legs:
            leg.ocaGroup, leg.ocaType = group, 1  # cancel the other leg on a fill
    elif order.order_class in ("bracket", "oto") and (
        order.take_profit is not None or order.stop_loss is not None
    ):
        parent = _single(order, action, qty, order.client_order_id)
        legs = [parent]
        if order.take_profit is not None:
            legs.append(LimitOrder(exit_action, qty, _price(order.take_profit), orderRef=tp_ref))
        if order.stop_loss is not None:
            legs.append(StopOrder(exit_action, qty, _price(order.stop_loss), orderRef=sl_ref))
        for leg in legs[1:]:
            leg.tif = "GTC"  # the exits outlive the entry's day
    else:
        legs = [_single(order, action, qty, order.client_order_id)]
    for leg in legs:
        leg.orderId = next_id()
        leg.account = account
    if order.order_class in ("bracket", "oto"):
        for leg in legs[1:]:
            leg.parentId = legs[0].orderId
    for leg in legs:
        leg.transmit = order.order_class == "oco" or leg is legs[-1]
    return legs


def status_of(state: str, filled: float, error_codes: list[int]) -> OrderStatus:
    """StrateQueue's status for an IB order state. A closed order with nothing filled and an
    error other than a cancel's is REJECTED; ib_async keeps no reason for a completed order
    synced after a restart, so one refused in an earlier run reads as CANCELED."""
    if state == "Filled":
        return OrderStatus.FILLED
    if state in _WORKING:
        if state in ("PendingSubmit", "ApiPending"):
            return OrderStatus.UNKNOWN
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    if state in ("Cancelled", "ApiCancelled", "Inactive"):
        refused = filled == 0 and any(code not in _CANCEL_CODES for code in error_codes)
        return OrderStatus.REJECTED if refused else OrderStatus.CANCELED
    if state == "ValidationError":  # a warning: the order still works
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    return OrderStatus.UNKNOWN
