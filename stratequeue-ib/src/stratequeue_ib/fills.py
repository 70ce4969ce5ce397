"""IB executions as StrateQueue fills, and the order states seen through ib_async's trades."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from stratequeue.brokers.base import OrderAck
from stratequeue.models import Fill, OrderStatus, Side, utc

from .contracts import symbol_of
from .orders import leg_refs, status_of

__all__ = ["ack_of", "best_trade", "fill_of", "filter_time", "oco_ack"]

_UNSET = 1.7976931348623157e308


def filter_time(since: datetime) -> str:
    """An execution filter's time, ``yyyymmdd-hh:mm:ss`` in UTC (IB's resolution: seconds)."""
    return utc(since).astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")


def fill_of(ib_fill: Any, commission: float) -> Fill:
    ex = ib_fill.execution
    return Fill(
        client_order_id=ex.orderRef,
        symbol=symbol_of(ib_fill.contract),
        side=Side.BUY if ex.side == "BOT" else Side.SELL,
        qty=float(ex.shares),
        price=float(ex.price),
        timestamp=utc(ex.time),
        commission=commission,
        execution_id=ex.execId,
        cum_qty=float(ex.cumQty),
    )


def best_trade(trades: Iterable[Any]) -> Any | None:
    """Of the trades carrying one orderRef, the one that counts: the latest TWS took."""
    ranked = sorted(trades, key=lambda t: (t.order.permId or 0, t.order.orderId or 0))
    return ranked[-1] if ranked else None


def _filled(trade: Any, executed: float) -> float:
    reported = float(trade.orderStatus.filled or 0.0)
    completed = trade.order.filledQuantity
    completed = float(completed) if completed not in (None, "", _UNSET) else 0.0
    return max(reported, completed, executed)


def ack_of(trade: Any, name: str, executed: float = 0.0) -> OrderAck:
    """The state of ``trade`` as an ack named ``name`` (``executed``: shares seen filled)."""
    errors = [(e.errorCode, e.message) for e in trade.log if e.errorCode]
    filled = _filled(trade, executed)
    status = status_of(
        trade.orderStatus.status,
        filled,
        [code for code, _ in errors],
    )
    total = float(trade.order.totalQuantity or 0.0)
    if status is OrderStatus.PARTIALLY_FILLED and total and filled >= total:
        status = OrderStatus.FILLED
    avg = float(trade.orderStatus.avgFillPrice or 0.0)
    return OrderAck(
        client_order_id=name,
        status=status,
        broker_order_id=str(trade.order.permId) if trade.order.permId else "",
        message=errors[-1][1] if errors and status is OrderStatus.REJECTED else "",
        filled_qty=filled,
        symbol=symbol_of(trade.contract),
        filled_avg_price=avg or None,
        side=Side.BUY if trade.order.action == "BUY" else Side.SELL,
        qty=total or None,
    )


def oco_ack(cid: str, legs: dict[str, OrderAck]) -> OrderAck | None:
    """An OCO's state as one order: filled when either leg is, working while one works."""
    tp_ref, sl_ref = leg_refs(cid)
    acks = [legs[ref] for ref in (tp_ref, sl_ref) if ref in legs]
    if not acks:
        return None
    filled = [a for a in acks if a.filled_qty > 0]
    if any(a.status is OrderStatus.FILLED for a in acks):
        status = OrderStatus.FILLED
    elif filled:
        status = OrderStatus.PARTIALLY_FILLED
    elif any(a.status.is_open for a in acks):
        status = OrderStatus.ACCEPTED
    elif all(a.status is OrderStatus.REJECTED for a in acks):
        status = OrderStatus.REJECTED
    else:
        status = OrderStatus.CANCELED
    first = acks[0]
    return OrderAck(
        client_order_id=cid,
        status=status,
        broker_order_id=first.broker_order_id,
        message=first.message,
        filled_qty=sum(a.filled_qty for a in acks),
        symbol=first.symbol,
        filled_avg_price=filled[0].filled_avg_price if filled else None,
        side=first.side,
        qty=first.qty,
    )
