"""StrateQueue orders as Schwab order specs, and Schwab's answers as acks and fills.

Prices go as strings on the instrument's tick (a cent from $1, else 0.0001); quantities are whole
shares. An order is recognised without an id by its signature: symbol, instruction, quantity,
type, price and stop price, written the same way from what was sent and from what Schwab lists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from stratequeue.brokers.base import OrderAck
from stratequeue.errors import BrokerError
from stratequeue.models import BrokerOrder, Fill, OrderStatus, OrderType, Side

__all__ = [
    "ack_of",
    "parts_of",
    "executions_of",
    "is_final",
    "parse_time",
    "price_text",
    "signature_of_order",
    "signature_of_spec",
    "spec_of",
]

_TYPES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOP",
    OrderType.STOP_LIMIT: "STOP_LIMIT",
}
_STATUS = {
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REPLACED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
}


def price_text(value: float) -> str:
    """``value`` on its tick: a cent at $1 and above, else 0.0001."""
    tick = Decimal("0.01") if value >= 1 else Decimal("0.0001")
    return str(Decimal(repr(value)).quantize(tick, rounding=ROUND_HALF_EVEN))


def whole_shares(order: BrokerOrder) -> int:
    qty = order.qty or 0.0
    if qty <= 0 or qty != int(qty):
        raise BrokerError(
            f"{order.client_order_id}: Schwab trades whole shares only, not {qty:g} {order.symbol}"
        )
    return int(qty)


def spec_of(order: BrokerOrder) -> dict[str, Any]:
    """The JSON body of ``POST /orders``: a single order; a bracket as a first-triggers-OCO
    (the entry, then its take-profit and stop-loss, one cancelling the other); an exit pair
    as an OCO."""
    if order.order_class in ("bracket", "oto"):
        entry = _single(order)
        exit_side = Side.SELL if order.side is Side.BUY else Side.BUY
        legs = _exits(order, exit_side)
        if not legs:
            return entry
        entry["orderStrategyType"] = "TRIGGER"
        entry["childOrderStrategies"] = [legs[0] if len(legs) == 1 else _oco(legs)]
        return entry
    if order.order_class == "oco":
        legs = _exits(order, order.side)
        if len(legs) != 2:
            raise BrokerError(
                f"{order.client_order_id}: an OCO needs a take-profit and a stop-loss price"
            )
        return _oco(legs)
    return _single(order)


def _oco(legs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"orderStrategyType": "OCO", "childOrderStrategies": legs}


def _exits(order: BrokerOrder, side: Side) -> list[dict[str, Any]]:
    """The take-profit (limit) and stop-loss (stop) legs ``order`` asks for, good till
    canceled."""
    qty = whole_shares(order)
    legs = []
    if order.take_profit is not None:
        legs.append(_leg("LIMIT", side, qty, order.symbol, price=order.take_profit))
    if order.stop_loss is not None:
        legs.append(_leg("STOP", side, qty, order.symbol, stop=order.stop_loss))
    return legs


def _leg(
    kind: str,
    side: Side,
    qty: int,
    symbol: str,
    *,
    price: float | None = None,
    stop: float | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "orderType": kind,
        "session": "NORMAL",
        "duration": "GOOD_TILL_CANCEL",
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": "BUY" if side is Side.BUY else "SELL",
                "quantity": qty,
                "instrument": {"symbol": symbol, "assetType": "EQUITY"},
            }
        ],
    }
    if price is not None:
        spec["price"] = price_text(price)
    if stop is not None:
        spec["stopPrice"] = price_text(stop)
    return spec


def _single(order: BrokerOrder) -> dict[str, Any]:
    kind = _TYPES.get(order.order_type)
    if kind is None:
        raise BrokerError(f"{order.client_order_id}: Schwab plugin cannot send {order.order_type}")
    spec: dict[str, Any] = {
        "orderType": kind,
        "session": "NORMAL",
        "duration": "GOOD_TILL_CANCEL" if order.time_in_force == "gtc" else "DAY",
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": "BUY" if order.side is Side.BUY else "SELL",
                "quantity": whole_shares(order),
                "instrument": {"symbol": order.symbol, "assetType": "EQUITY"},
            }
        ],
    }
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        if order.limit_price is None:
            raise BrokerError(f"{order.client_order_id}: a {kind} order needs a limit price")
        spec["price"] = price_text(order.limit_price)
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        if order.stop_price is None:
            raise BrokerError(f"{order.client_order_id}: a {kind} order needs a stop price")
        spec["stopPrice"] = price_text(order.stop_price)
    return spec


def _signature(symbol: str, instruction: str, qty: float, kind: str, price: Any, stop: Any) -> str:
    def text(v: Any) -> str:
        return "" if v is None else price_text(float(v))

    return f"{symbol}|{instruction}|{int(float(qty))}|{kind}|{text(price)}|{text(stop)}"


def signature_of_spec(spec: dict[str, Any]) -> str:
    """What identifies an order without an id, the same from a spec sent and from the order
    Schwab lists (children included)."""
    own = spec.get("orderStrategyType", "SINGLE")
    if spec.get("orderLegCollection"):
        leg = spec["orderLegCollection"][0]
        own += ":" + _signature(
            leg["instrument"]["symbol"],
            leg["instruction"],
            leg["quantity"],
            spec["orderType"],
            spec.get("price"),
            spec.get("stopPrice"),
        )
    children = spec.get("childOrderStrategies") or []
    if children:
        own += "[" + ",".join(signature_of_spec(c) for c in children) + "]"
    return own


def signature_of_order(order: dict[str, Any]) -> str:
    """The signature of an order as Schwab lists it."""
    return signature_of_spec(order)


_FINAL = {"FILLED", "CANCELED", "REPLACED", "EXPIRED", "REJECTED"}


def is_final(order: dict[str, Any]) -> bool:
    """Nothing more can happen to ``order`` or any order in its tree."""
    children = order.get("childOrderStrategies") or []
    return order.get("status") in _FINAL and all(is_final(c) for c in children)


def parts_of(cid: str, order: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The orders with legs in ``order``'s tree, by StrateQueue name: the entry ``cid``, its
    take-profit ``cid/tp`` (a limit) and stop loss ``cid/sl`` (a stop)."""
    out = [(cid, order)] if order.get("orderLegCollection") else []
    for child in order.get("childOrderStrategies") or []:
        out.extend(_leg_parts(cid, child))
    return out


def _leg_parts(cid: str, node: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    if node.get("orderLegCollection"):
        out.append((f"{cid}/{'tp' if node['orderType'] == 'LIMIT' else 'sl'}", node))
    for child in node.get("childOrderStrategies") or []:
        out.extend(_leg_parts(cid, child))
    return out


def parse_time(text: str) -> datetime:
    """Schwab's ``2024-03-29T13:30:00+0000`` (or ISO with a colon, or Z)."""
    value = text.replace("Z", "+00:00")
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _side(order: dict[str, Any]) -> Side:
    instruction = order["orderLegCollection"][0]["instruction"]
    return Side.BUY if instruction in ("BUY", "BUY_TO_COVER") else Side.SELL


def ack_of(cid: str, order: dict[str, Any], message: str = "") -> OrderAck:
    """The ack of ``order`` named ``cid``; an OCO without legs of its own reports for its
    legs together (filled once one leg is)."""
    if not order.get("orderLegCollection"):
        return _container_ack(cid, order, message)
    filled = float(order.get("filledQuantity") or 0.0)
    status = _STATUS.get(order.get("status", ""))
    if status is None:
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    executions = executions_of(cid, order)
    avg = None
    if executions:
        avg = sum(f.qty * f.price for f in executions) / sum(f.qty for f in executions)
    return OrderAck(
        cid,
        status,
        broker_order_id=str(order["orderId"]),
        message=message or str(order.get("statusDescription") or ""),
        filled_qty=filled,
        symbol=order["orderLegCollection"][0]["instrument"]["symbol"],
        filled_avg_price=avg,
        side=_side(order),
        qty=float(order.get("quantity") or order["orderLegCollection"][0]["quantity"]),
    )


def _container_ack(cid: str, order: dict[str, Any], message: str) -> OrderAck:
    legs = [ack_of(name, leaf) for name, leaf in parts_of(cid, order)]
    status = _STATUS.get(order.get("status", ""), OrderStatus.ACCEPTED)
    filled = sum(a.filled_qty for a in legs)
    first = legs[0]
    return OrderAck(
        cid,
        status,
        broker_order_id=str(order["orderId"]),
        message=message or str(order.get("statusDescription") or ""),
        filled_qty=filled,
        symbol=first.symbol,
        side=first.side,
        qty=first.qty,
    )


def executions_of(cid: str, order: dict[str, Any]) -> list[Fill]:
    """Every execution in ``order``'s tree, named by :func:`parts_of`."""
    return [f for name, leaf in parts_of(cid, order) for f in _leaf_executions(name, leaf)]


def _leaf_executions(cid: str, order: dict[str, Any]) -> list[Fill]:
    """The order's executions in order, each with Schwab's activity id and the cumulative
    quantity after it."""
    symbol = order["orderLegCollection"][0]["instrument"]["symbol"]
    side = _side(order)
    out: list[Fill] = []
    cum = 0.0
    for activity in order.get("orderActivityCollection") or []:
        if activity.get("activityType") != "EXECUTION":
            continue
        for n, leg in enumerate(activity.get("executionLegs") or []):
            qty = float(leg["quantity"])
            cum += qty
            suffix = "" if n == 0 else f".{n}"
            out.append(
                Fill(
                    cid,
                    symbol,
                    side,
                    qty,
                    float(leg["price"]),
                    parse_time(leg["time"]),
                    execution_id=f"{activity['activityId']}{suffix}",
                    cum_qty=cum,
                )
            )
    return out
