"""StrateQueue orders to Alpaca order requests, and Alpaca orders back to acknowledgements.

:func:`build_request` checks what Alpaca would refuse (fractional shares of a
non-fractionable stock, crypto brackets, a missing trail) before anything is sent, raising
:class:`OrderRefused` with a message that says why and what would work instead.

Order classes (``BrokerOrder.order_class``):

- ``"simple"``: a plain order; an entry carrying ``take_profit`` and/or ``stop_loss`` becomes a
  ``bracket`` (both) or ``oto`` (one), as before.
- ``"bracket"`` / ``"oto"``: said explicitly, same requests.
- ``"oco"``: a trade's exit pair. Alpaca models it as a limit order (the take-profit, price
  ``take_profit``) with one stop leg (``stop_loss``); whichever triggers first fills and Alpaca
  cancels the other. Stocks only, whole shares, time in force day or gtc.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
from alpaca.trading.enums import OrderType as AlpacaOrderType
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)
from stratequeue.brokers.base import OrderAck
from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side

from .symbols import pair

__all__ = [
    "AssetInfo",
    "OrderRefused",
    "ack_from_order",
    "build_request",
    "price",
    "status_of_order",
]

_STOCK_TIF = {"day", "gtc", "opg", "cls", "ioc", "fok"}
_CRYPTO_TYPES = {OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}
_REQUEST_CLASS: dict[OrderType, type[OrderRequest]] = {
    OrderType.MARKET: MarketOrderRequest,
    OrderType.LIMIT: LimitOrderRequest,
    OrderType.STOP: StopOrderRequest,
    OrderType.STOP_LIMIT: StopLimitOrderRequest,
    OrderType.TRAILING_STOP: TrailingStopOrderRequest,
}
_ORDER_CLASSES = {"simple", "bracket", "oto", "oco"}
_STATUS = {
    "filled": OrderStatus.FILLED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


class OrderRefused(Exception):
    """An order Alpaca would not accept; the message says why (shown to the user, ledgered)."""


@dataclass(frozen=True)
class AssetInfo:
    """What decides how an order may be placed (from GET /v2/assets/{symbol})."""

    symbol: str
    crypto: bool
    tradable: bool = True
    fractionable: bool = False
    shortable: bool = False


def price(value: float | None, crypto: bool) -> float | None:
    """Round a price to what Alpaca accepts: cents above $1, 4 decimals below; crypto 9."""
    if value is None:
        return None
    if crypto:
        return round(value, 9)
    return round(value, 2 if value >= 1 else 4)


def _is_whole(qty: float) -> bool:
    return abs(qty - round(qty)) < 1e-9


def _time_in_force(order: BrokerOrder, asset: AssetInfo, fractional: bool) -> TimeInForce:
    tif = (order.time_in_force or "day").lower()
    if asset.crypto:  # Alpaca crypto accepts gtc and ioc only
        return TimeInForce.IOC if tif in ("ioc", "fok") else TimeInForce.GTC
    if tif not in _STOCK_TIF:
        raise OrderRefused(
            f"time in force '{tif}' is not one of Alpaca's {', '.join(sorted(_STOCK_TIF))}"
        )
    if fractional and tif != "day":
        return TimeInForce.DAY  # Alpaca takes fractional and notional stock orders as day only
    if (order.take_profit or order.stop_loss) and tif not in ("day", "gtc"):
        kind = "oco" if order.order_class == "oco" else "bracket"
        raise OrderRefused(f"{kind} orders need time in force day or gtc, not '{tif}'")
    return TimeInForce(tif)


def _check_oco(order: BrokerOrder, asset: AssetInfo) -> None:
    """An OCO exit pair as Alpaca takes it: a take-profit limit and a stop, whole shares."""
    if asset.crypto:
        raise OrderRefused(
            "Alpaca does not offer OCO (take-profit + stop-loss exit) orders for crypto: "
            f"protect {order.symbol} with separate orders instead"
        )
    tp, sl = order.take_profit, order.stop_loss
    if tp is None or sl is None:
        raise OrderRefused("an oco order needs both take_profit and stop_loss")
    if order.order_type is not OrderType.LIMIT:
        raise OrderRefused(f"an oco order is a limit order at Alpaca, not {order.order_type}")
    if order.limit_price is not None and abs(order.limit_price - tp) > 1e-9:
        raise OrderRefused(
            f"an oco order's limit price is its take-profit: limit_price {order.limit_price:g} "
            f"differs from take_profit {tp:g}"
        )
    if order.notional is not None or not _is_whole(order.qty or 0.0):
        raise OrderRefused("oco orders need whole shares at Alpaca (no fractional or notional)")
    selling = order.side.value == "sell"
    if (selling and tp <= sl) or (not selling and tp >= sl):
        relation = "above" if selling else "below"
        raise OrderRefused(
            f"an oco {order.side.value}'s take-profit ({tp:g}) must be {relation} "
            f"its stop loss ({sl:g})"
        )


def _check(order: BrokerOrder, asset: AssetInfo) -> bool:
    """Refuse what Alpaca would refuse; return True for a fractional (or notional) order."""
    symbol = order.symbol
    if not asset.tradable:
        raise OrderRefused(f"{symbol} is not tradable at Alpaca")
    if order.order_class not in _ORDER_CLASSES:
        raise OrderRefused(
            f"order class '{order.order_class}' is not one of {', '.join(sorted(_ORDER_CLASSES))}"
        )
    if (order.qty is None) == (order.notional is None):
        raise OrderRefused("an order needs exactly one of qty or notional")
    amount = order.qty if order.qty is not None else order.notional
    if amount is None or amount <= 0:
        raise OrderRefused(f"quantity must be positive, got {amount}")
    if order.order_class == "oco":
        _check_oco(order, asset)
        return False
    bracket = order.take_profit is not None or order.stop_loss is not None
    if order.order_class in ("bracket", "oto") and not bracket:
        raise OrderRefused(f"a {order.order_class} order needs take_profit and/or stop_loss")
    fractional = order.notional is not None or not _is_whole(order.qty or 0.0)
    if order.notional is not None and order.order_type is not OrderType.MARKET:
        raise OrderRefused("notional (dollar-amount) orders must be market orders at Alpaca")
    if asset.crypto:
        if order.order_type not in _CRYPTO_TYPES:
            raise OrderRefused(
                f"Alpaca crypto takes market, limit and stop_limit orders, not {order.order_type}"
            )
        if bracket:
            raise OrderRefused("Alpaca does not take bracket (sl/tp) orders for crypto")
        return fractional
    if fractional:
        if not asset.fractionable:
            raise OrderRefused(
                f"{symbol} is not fractionable at Alpaca: order whole shares "
                f"(qty {order.qty if order.qty is not None else 'notional'})"
            )
        if bracket or order.order_type is OrderType.TRAILING_STOP:
            raise OrderRefused(
                "fractional orders cannot be brackets or trailing stops: use whole shares"
            )
    if bracket and order.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        raise OrderRefused(f"a bracket's entry must be market or limit, not {order.order_type}")
    if order.order_type is OrderType.TRAILING_STOP and not order.trail_percent:
        raise OrderRefused("a trailing stop needs trail_percent")
    return fractional


def build_request(order: BrokerOrder, asset: AssetInfo) -> OrderRequest:
    """The alpaca-py request for ``order``, always carrying its ``client_order_id``."""
    fractional = _check(order, asset)
    crypto = asset.crypto
    fields: dict[str, Any] = {
        "symbol": pair(order.symbol),
        "side": OrderSide(order.side.value),
        "type": AlpacaOrderType(order.order_type.value),
        "time_in_force": _time_in_force(order, asset, fractional),
        "client_order_id": order.client_order_id,
    }
    if order.qty is not None:
        fields["qty"] = round(order.qty, 9)
    else:
        fields["notional"] = round(order.notional or 0.0, 2)
    oco = order.order_class == "oco"
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and not oco:
        if order.limit_price is None:
            raise OrderRefused(f"a {order.order_type} order needs a limit price")
        fields["limit_price"] = price(order.limit_price, crypto)
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        if order.stop_price is None:
            raise OrderRefused(f"a {order.order_type} order needs a stop price")
        fields["stop_price"] = price(order.stop_price, crypto)
    if order.order_type is OrderType.TRAILING_STOP:
        fields["trail_percent"] = order.trail_percent
    if order.take_profit is not None:
        fields["take_profit"] = TakeProfitRequest(
            limit_price=price(order.take_profit, crypto) or 0.0
        )
    if order.stop_loss is not None:
        fields["stop_loss"] = StopLossRequest(stop_price=price(order.stop_loss, crypto) or 0.0)
    if oco:  # its limit price is take_profit.limit_price, as in Alpaca's own examples
        fields["order_class"] = OrderClass.OCO
    elif order.order_class in ("bracket", "oto"):
        fields["order_class"] = OrderClass(order.order_class)
    elif order.take_profit is not None and order.stop_loss is not None:
        fields["order_class"] = OrderClass.BRACKET
    elif order.take_profit is not None or order.stop_loss is not None:
        fields["order_class"] = OrderClass.OTO
    try:
        return _REQUEST_CLASS[order.order_type](**fields)
    except ValueError as exc:  # the SDK's own validation, before any HTTP call
        raise OrderRefused(f"alpaca-py refused the order: {exc}") from exc


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def status_of_order(alpaca_status: str, filled_qty: float) -> OrderStatus:
    status = _STATUS.get(alpaca_status)
    if status is not None:
        return status
    return OrderStatus.PARTIALLY_FILLED if filled_qty > 0 else OrderStatus.ACCEPTED


def _acting(order: Any) -> Any:
    """The order whose state stands for ``order``: for an OCO, the leg that filled (the stop
    leg when it triggered, the limit parent otherwise); the order itself for other classes."""
    if _text(order.order_class) != "oco":
        return order
    for leg in order.legs or []:
        if float(leg.filled_qty or 0) > 0:
            return leg
    return order


def _oco_open(order: Any) -> bool:
    """An OCO whose parent is closed while a leg still works (between Alpaca's two updates)."""
    closed = {"filled", "canceled", "expired", "replaced", "rejected"}
    legs_open = any(_text(leg.status) not in closed for leg in order.legs or [])
    return _text(order.order_class) == "oco" and legs_open and _text(order.status) in closed


def ack_from_order(order: Any, symbol: str | None = None, message: str = "") -> OrderAck:
    """An :class:`OrderAck` from an alpaca-py ``Order``; ``symbol`` keeps the caller's spelling.

    An OCO is reported as a whole: FILLED (with that leg's quantity and price) when either its
    take-profit or its stop leg filled, CANCELED only when both are canceled."""
    acting = _acting(order)
    filled = float(acting.filled_qty or 0)
    status = status_of_order(_text(acting.status), filled)
    if filled == 0 and _oco_open(order):
        status = OrderStatus.ACCEPTED
    return OrderAck(
        client_order_id=order.client_order_id,
        status=status,
        broker_order_id=str(order.id),
        message=message,
        filled_qty=filled,
        symbol=symbol or order.symbol or "",
        filled_avg_price=float(acting.filled_avg_price) if acting.filled_avg_price else None,
        side=Side(_text(order.side)) if order.side else None,
        qty=float(order.qty) if order.qty else None,
    )
