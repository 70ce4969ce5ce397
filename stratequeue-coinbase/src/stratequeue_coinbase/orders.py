"""StrateQueue orders as Advanced Trade order configurations, and Coinbase's orders and fills
as StrateQueue's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stratequeue.brokers.base import OrderAck
from stratequeue.models import BrokerOrder, Fill, OrderStatus, OrderType, Side

from .products import Product

__all__ = [
    "Unsupported",
    "ack_from",
    "exit_leg",
    "fill_from",
    "order_body",
    "parse_time",
]


class Unsupported(ValueError):
    """An order Advanced Trade cannot take, with the reason."""


_STATUS = {
    "OPEN": OrderStatus.ACCEPTED,
    "PENDING": OrderStatus.ACCEPTED,
    "QUEUED": OrderStatus.ACCEPTED,
    "CANCEL_QUEUED": OrderStatus.ACCEPTED,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.CANCELED,
    "FAILED": OrderStatus.REJECTED,
}


def _limit(order: BrokerOrder, product: Product, size: str) -> dict[str, Any]:
    assert order.limit_price is not None
    price = product.price_text(order.limit_price)
    tif = order.time_in_force.lower()
    if tif == "ioc":
        return {"sor_limit_ioc": {"base_size": size, "limit_price": price}}
    if tif == "fok":
        return {"limit_limit_fok": {"base_size": size, "limit_price": price}}
    if tif == "gtc":
        return {"limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": False}}
    # "day" and "gtd": crypto has no trading day; a day order is good for 24 hours
    end = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "limit_limit_gtd": {
            "base_size": size,
            "limit_price": price,
            "end_time": end,
            "post_only": False,
        }
    }


def order_body(order: BrokerOrder, product: Product) -> dict[str, Any]:
    """The POST /orders body for ``order`` on ``product`` (sizes and prices on its increments)."""
    size = product.size(order.qty) if order.qty is not None else None
    config: dict[str, Any]
    if order.order_class == "oco":
        if order.take_profit is None or order.stop_loss is None or size is None:
            raise Unsupported("an exit pair needs a quantity, a take-profit and a stop loss")
        config = {
            "trigger_bracket_gtc": {
                "base_size": size,
                "limit_price": product.price_text(order.take_profit),
                "stop_trigger_price": product.price_text(order.stop_loss),
            }
        }
    elif order.order_class != "simple":
        raise Unsupported(
            f"Coinbase has no {order.order_class} entry orders: its bracket is an exit pair "
            "for a position held (send the entry, then its sl/tp)"
        )
    elif order.order_type is OrderType.MARKET:
        if size is not None:
            config = {"market_market_ioc": {"base_size": size}}
        elif order.notional is not None:
            config = {"market_market_ioc": {"quote_size": product.quote_size(order.notional)}}
        else:
            raise Unsupported("a market order needs a quantity or a notional")
    elif size is None:
        raise Unsupported(f"a {order.order_type} order needs a quantity")
    elif order.order_type is OrderType.LIMIT:
        config = _limit(order, product, size)
    elif order.order_type is OrderType.STOP_LIMIT:
        assert order.limit_price is not None and order.stop_price is not None
        direction = (
            "STOP_DIRECTION_STOP_UP" if order.side is Side.BUY else "STOP_DIRECTION_STOP_DOWN"
        )
        config = {
            "stop_limit_stop_limit_gtc": {
                "base_size": size,
                "limit_price": product.price_text(order.limit_price),
                "stop_price": product.price_text(order.stop_price),
                "stop_direction": direction,
            }
        }
    else:
        raise Unsupported(
            f"Coinbase Advanced Trade has no {order.order_type} orders (use stop_limit)"
        )
    if size is not None and product.base_min_size and float(size) < float(product.base_min_size):
        raise Unsupported(
            f"{size} {product.base_currency} is below {product.product_id}'s minimum size "
            f"{product.base_min_size}"
        )
    return {
        "client_order_id": order.client_order_id,
        "product_id": product.product_id,
        "side": order.side.value.upper(),
        "order_configuration": config,
    }


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _size(order: dict[str, Any]) -> float | None:
    for config in (order.get("order_configuration") or {}).values():
        if isinstance(config, dict) and config.get("base_size"):
            return float(config["base_size"])
    return None


def ack_from(order: dict[str, Any], symbol: str) -> OrderAck:
    """A Coinbase order (GET /orders/historical) as an :class:`OrderAck`."""
    filled = _float(order.get("filled_size"))
    status = _STATUS.get(str(order.get("status", "")), OrderStatus.UNKNOWN)
    if status is OrderStatus.ACCEPTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    message = str(order.get("reject_message") or order.get("cancel_message") or "")
    average = _float(order.get("average_filled_price"))
    return OrderAck(
        client_order_id=str(order.get("client_order_id", "")),
        status=status,
        broker_order_id=str(order.get("order_id", "")),
        message=message,
        filled_qty=filled,
        symbol=symbol,
        filled_avg_price=average if filled > 0 else None,
        side=Side(str(order.get("side", "BUY")).lower()),
        qty=_size(order),
    )


def exit_leg(order: dict[str, Any], price: float) -> str:
    """Which leg of an exit pair (``trigger_bracket_*``) filled at ``price``: ``tp`` at its
    limit or better, else ``sl``; '' for any other order."""
    config = order.get("order_configuration") or {}
    bracket = config.get("trigger_bracket_gtc") or config.get("trigger_bracket_gtd")
    if not bracket:
        return ""
    limit = float(bracket["limit_price"])
    sell = str(order.get("side", "")).upper() == "SELL"
    return "tp" if (price >= limit if sell else price <= limit) else "sl"


def parse_time(text: str) -> datetime:
    """Coinbase's RFC 3339 times (``2026-01-02T03:04:05.123456Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def fill_from(fill: dict[str, Any], client_order_id: str, symbol: str, cum_qty: float) -> Fill:
    return Fill(
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side(str(fill["side"]).lower()),
        qty=float(fill["size"]),
        price=float(fill["price"]),
        timestamp=parse_time(str(fill["trade_time"])),
        commission=_float(fill.get("commission")),
        execution_id=str(fill["trade_id"]),
        cum_qty=cum_qty,
    )
