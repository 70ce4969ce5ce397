"""What the ledger says happened to a sleeve's orders, besides fills at the backtest's price:
the causes a difference with the backtest can be attributed to, each at the bar it happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from ..ledger import Ledger

__all__ = ["Cause", "OrderFacts", "sleeve_causes"]


@dataclass(frozen=True)
class Cause:
    """Something that changed what the strategy could do, from bar ``bar`` on."""

    kind: str  # rejected | risk | paused | operator | partial | quantity | restart
    bar: int
    time: datetime | None
    text: str


@dataclass(frozen=True)
class OrderFacts:
    """An order of the sleeve: what the strategy asked and what the broker did."""

    ref: str
    client_order_id: str
    bar_time: datetime | None
    asked: float | None  # the intent's size (units, or a fraction of equity when < 1)
    qty: float | None  # the quantity sent
    filled: float
    status: str
    message: str
    refused_by_us: bool


def _bar_of(index: pd.DatetimeIndex, when: datetime | None) -> int:
    """The bar at or before ``when`` (a bar's start time), -1 before the first."""
    if when is None:
        return len(index)
    return int(index.searchsorted(pd.Timestamp(when), side="right")) - 1


def orders_of(ledger: Ledger, strategy_id: str, symbol: str) -> list[OrderFacts]:
    rows = ledger.db.execute(
        "SELECT l.ref, o.client_order_id, o.qty, o.filled_qty, o.status, o.message, "
        "i.size AS asked, "
        "i.bar_time, (SELECT COUNT(*) FROM order_events e WHERE "
        "e.client_order_id = o.client_order_id AND e.event='risk') AS risk "
        "FROM order_legs l JOIN orders o USING (client_order_id) LEFT JOIN intents i ON "
        "i.strategy_id = l.strategy_id AND i.symbol = o.symbol AND i.ref = l.ref "
        "AND i.action = 'new' WHERE l.strategy_id=? AND o.symbol=? ORDER BY o.created_at",
        (strategy_id, symbol),
    ).fetchall()
    return [
        OrderFacts(
            ref=r["ref"],
            client_order_id=r["client_order_id"],
            bar_time=datetime.fromisoformat(r["bar_time"]) if r["bar_time"] else None,
            asked=r["asked"],
            qty=r["qty"],
            filled=float(r["filled_qty"] or 0.0),
            status=r["status"],
            message=r["message"] or "",
            refused_by_us=bool(r["risk"]),
        )
        for r in rows
    ]


#: sleeve events that closed a book's positions outside its strategy (ledger/runs.py)
_CLOSES = {
    "close": "its positions were closed outside the strategy (--rebalance close, "
    "--on-exit flatten by orders, a flatten control or a kill switch)",
    "exit": "its positions were closed at the run's end (--on-exit flatten)",
}


def _refusal_kind(message: str) -> str:
    if message.startswith("stale feed"):
        return "paused-feed"
    if message.startswith("paused by the operator"):
        return "operator"
    return "risk"


def sleeve_causes(
    ledger: Ledger, strategy_id: str, symbol: str, index: pd.DatetimeIndex, history: int
) -> tuple[list[Cause], dict[str, OrderFacts]]:
    """The causes recorded for the sleeve's live bars, oldest first, and its orders by ref."""
    causes: list[Cause] = []
    orders = orders_of(ledger, strategy_id, symbol)
    for order in orders:
        bar = _bar_of(index, order.bar_time)
        who = f"order {order.client_order_id}"
        if order.status == "rejected":
            if order.refused_by_us:
                kind = _refusal_kind(order.message)
                causes.append(Cause(kind, bar, order.bar_time, f"{who} refused: {order.message}"))
            else:
                text = f"{who} rejected by the broker: {order.message or '(no message)'}"
                causes.append(Cause("rejected", bar, order.bar_time, text))
        elif (
            order.qty is not None
            and 0 < order.filled < order.qty - 1e-9
            and order.status
            in (
                "canceled",
                "expired",
                "partially_filled",
            )
        ):
            text = f"{who} partially filled: {order.filled:g} of {order.qty:g} ({order.status})"
            causes.append(Cause("partial", bar, order.bar_time, text))
        elif order.status in ("canceled", "expired") and order.filled == 0:
            text = f"{who} {order.status} by the broker before any fill"
            if order.message:
                text += f": {order.message}"
            causes.append(Cause("canceled", bar, order.bar_time, text))
    for control in ledger.controls():
        if control["status"] != "applied" or control["kind"] == "resume":
            continue
        if control["strategy_id"] not in (None, strategy_id):
            continue
        if control["symbol"] not in (None, symbol):
            continue
        when = datetime.fromisoformat(control["bar_time"]) if control["bar_time"] else None
        text = (
            f"operator {control['kind']} by {control['requested_by']}"
            f" ({control['result'] or 'applied'})"
        )
        causes.append(Cause("operator", _bar_of(index, when), when, text))
    for signal in ledger.db.execute(
        "SELECT bar_time, detail FROM signals WHERE signal='KILL' AND strategy_id IN (?, ?)",
        (strategy_id, "ACCOUNT"),
    ).fetchall():
        when = datetime.fromisoformat(signal["bar_time"])
        causes.append(Cause("risk", _bar_of(index, when), when, f"kill switch: {signal['detail']}"))
    for event in ledger.sleeve_events(strategy_id, symbol):
        if event["kind"] not in _CLOSES:
            continue
        when = datetime.fromisoformat(event["after_ts"]) if event["after_ts"] else None
        bar = _bar_of(index, when)
        causes.append(Cause("operator", bar, when, _CLOSES[event["kind"]]))
    for event in ledger.run_events():
        if event["kind"] == "feed-paused" and event["symbol"] == symbol:
            when = datetime.fromisoformat(event["ts"])
            text = (
                f"the {symbol} feed went stale (no bar for {event['detail'].get('periods')} "
                f"periods) at {when:%Y-%m-%d %H:%M:%S}: trading paused"
            )
            causes.append(Cause("paused-feed", _bar_of(index, when), when, text))
    causes += _restarts(ledger, index, history)
    causes.sort(key=lambda c: c.bar)
    return causes, {o.ref: o for o in orders}


def _restarts(ledger: Ledger, index: pd.DatetimeIndex, history: int) -> list[Cause]:
    """Each restart after the first live bar: the run was down between two runs."""
    runs: list[dict[str, Any]] = ledger.table("runs")
    out = []
    for before, after in zip(runs, runs[1:], strict=False):
        down_from = before["ended_at"] or before.get("heartbeat_at") or before["started_at"]
        start = datetime.fromisoformat(after["started_at"])
        bar = _bar_of(index, start)
        if bar < history:
            continue
        text = f"the run was down from {down_from} to {after['started_at']} (restart)"
        out.append(Cause("restart", bar + 1, start, text))
    return out
