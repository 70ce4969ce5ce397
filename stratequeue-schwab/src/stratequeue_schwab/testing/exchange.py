"""The fake Schwab account: cash, positions, orders with their executions, transactions.

Orders work until the price reaches them (``set_price``) or a test fills them (``fill``); a
fill books an EXECUTION activity on the order and a TRADE transaction on the account.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Exchange"]

_OPEN = {"WORKING", "QUEUED", "ACCEPTED", "PENDING_ACTIVATION"}


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


@dataclass
class _Order:
    order_id: int
    spec: dict[str, Any]
    entered: datetime
    status: str = "WORKING"
    filled: int = 0
    activities: list[dict[str, Any]] = field(default_factory=list)
    children: list[_Order] = field(default_factory=list)
    parent: _Order | None = None

    @property
    def is_leaf(self) -> bool:
        return bool(self.spec.get("orderLegCollection"))

    @property
    def symbol(self) -> str:
        return str(self.spec["orderLegCollection"][0]["instrument"]["symbol"])

    @property
    def instruction(self) -> str:
        return str(self.spec["orderLegCollection"][0]["instruction"])

    @property
    def qty(self) -> int:
        return int(self.spec["orderLegCollection"][0]["quantity"])

    def to_json(self, account_number: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            **{k: v for k, v in self.spec.items() if k != "childOrderStrategies"},
            "orderId": self.order_id,
            "accountNumber": int(account_number),
            "status": self.status,
            "enteredTime": _stamp(self.entered),
            "cancelable": self.status in _OPEN,
            "editable": self.status in _OPEN,
        }
        if self.is_leaf:
            out["quantity"] = float(self.qty)
            out["filledQuantity"] = float(self.filled)
            out["remainingQuantity"] = float(self.qty - self.filled)
        if self.children:
            out["childOrderStrategies"] = [c.to_json(account_number) for c in self.children]
        for key in ("price", "stopPrice"):  # Schwab answers prices as numbers
            if key in out:
                out[key] = float(out[key])
        if self.activities:
            out["orderActivityCollection"] = list(self.activities)
        return out


class Exchange:
    def __init__(self, account_number: str = "12345678", cash: float = 100_000.0) -> None:
        self.account_number = account_number
        self.account_hash = "E8F1" + account_number + "HASH"
        self.cash = cash
        self.positions: dict[str, tuple[int, float]] = {}
        self.prices: dict[str, float] = {}
        self.orders: dict[int, _Order] = {}
        self.transactions: list[dict[str, Any]] = []
        self._next_id = 1001
        self._next_activity = 90001
        #: a market order fills when placed, at the last price (else: at the next set_price)
        self.fill_market_at_once = False
        #: called with (order id, activity id) after each execution (the streamer listens)
        self.on_execution: list[Callable[[int, int], None]] = []
        self.lock = threading.RLock()

    # -- orders -----------------------------------------------------------------------------
    def refusal(self, spec: dict[str, Any]) -> str | None:
        """Why Schwab would refuse ``spec``, or None."""
        if not spec.get("orderLegCollection"):
            return None
        leg = spec["orderLegCollection"][0]
        price = float(spec.get("price") or self.prices.get(leg["instrument"]["symbol"], 0.0))
        if leg["instruction"] == "BUY" and price * int(leg["quantity"]) > self.cash:
            return "You do not have enough available cash/buying power for this order."
        return None

    def place(self, spec: dict[str, Any], now: datetime | None = None) -> int:
        """Place ``spec`` (with its ``childOrderStrategies``: a TRIGGER's children wait for
        their parent's fill, an OCO's children work together); the top order's id."""
        with self.lock:
            order = self._tree(spec, now or datetime.now(UTC), None, "WORKING")
            price = self.prices.get(order.symbol) if order.is_leaf else None
            if self.fill_market_at_once and spec.get("orderType") == "MARKET" and price:
                self.execute(order.order_id, order.qty, price)
            return order.order_id

    def _tree(
        self, spec: dict[str, Any], now: datetime, parent: _Order | None, status: str
    ) -> _Order:
        order = _Order(self._next_id, spec, now, status=status, parent=parent)
        self._next_id += 1
        self.orders[order.order_id] = order
        waiting = "AWAITING_PARENT_ORDER" if spec["orderStrategyType"] == "TRIGGER" else status
        order.children = [
            self._tree(child, now, order, waiting) for child in spec.get("childOrderStrategies", [])
        ]
        return order

    def cancel(self, order_id: int) -> bool:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.status not in _OPEN | {"AWAITING_PARENT_ORDER"}:
                return False
            self._cancel_tree(order)
            if order.parent is not None and order.parent.spec["orderStrategyType"] == "OCO":
                self._cancel_tree(order.parent)
            return True

    def _cancel_tree(self, order: _Order) -> None:
        if order.status in _OPEN | {"AWAITING_PARENT_ORDER"}:
            order.status = "CANCELED"
        for child in order.children:
            self._cancel_tree(child)

    def replace(self, order_id: int, spec: dict[str, Any]) -> int | None:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.status not in _OPEN:
                return None
            order.status = "REPLACED"
            return self.place(spec)

    def find(self, order_id: int) -> _Order | None:
        return self.orders.get(order_id)

    def order_json(self, order_id: int) -> dict[str, Any] | None:
        with self.lock:
            order = self.orders.get(order_id)
            return order.to_json(self.account_number) if order else None

    def listed(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Top-level orders entered in [start, end], newest first, children nested."""
        with self.lock:
            return [
                o.to_json(self.account_number)
                for o in sorted(self.orders.values(), key=lambda o: o.entered, reverse=True)
                if o.parent is None and start <= o.entered <= end
            ]

    # -- the market -------------------------------------------------------------------------
    def set_price(self, symbol: str, price: float) -> None:
        with self.lock:
            self.prices[symbol] = price
            for order in list(self.orders.values()):
                if (
                    order.status in _OPEN
                    and order.is_leaf
                    and order.symbol == symbol
                    and self._reached(order, price)
                ):
                    self.execute(order.order_id, order.qty - order.filled, price)

    @staticmethod
    def _reached(order: _Order, price: float) -> bool:
        kind = order.spec["orderType"]
        buy = order.instruction in ("BUY", "BUY_TO_COVER")
        limit = float(order.spec.get("price") or 0.0)
        stop = float(order.spec.get("stopPrice") or 0.0)
        if kind == "MARKET":
            return True
        if kind == "LIMIT":
            return price <= limit if buy else price >= limit
        triggered = price >= stop if buy else price <= stop
        if kind == "STOP":
            return triggered
        if kind == "STOP_LIMIT":
            return triggered and (price <= limit if buy else price >= limit)
        return False

    def execute(self, order_id: int, qty: int, price: float) -> None:
        """Book an execution of ``qty`` at ``price``: activity, transaction, cash, position."""
        with self.lock:
            order = self.orders[order_id]
            now = datetime.now(UTC)
            activity_id = self._next_activity
            self._next_activity += 1
            order.filled += qty
            order.activities.append(
                {
                    "activityType": "EXECUTION",
                    "activityId": activity_id,
                    "executionType": "FILL",
                    "quantity": float(qty),
                    "orderRemainingQuantity": float(order.qty - order.filled),
                    "executionLegs": [
                        {"legId": 1, "price": price, "quantity": float(qty), "time": _stamp(now)}
                    ],
                }
            )
            if order.filled >= order.qty:
                order.status = "FILLED"
                self._after_fill(order)
            for listener in self.on_execution:
                listener(order_id, activity_id)
            sign = 1 if order.instruction in ("BUY", "BUY_TO_COVER") else -1
            held, avg = self.positions.get(order.symbol, (0, 0.0))
            new = held + sign * qty
            if new == 0:
                self.positions.pop(order.symbol, None)
            else:
                same_way = held == 0 or (held > 0) == (sign > 0)
                cost = (avg * held + price * sign * qty) / new if same_way else avg
                self.positions[order.symbol] = (new, cost)
            self.cash -= sign * qty * price
            self.transactions.append(
                {
                    "activityId": activity_id,
                    "time": _stamp(now),
                    "type": "TRADE",
                    "orderId": order_id,
                    "netAmount": -sign * qty * price,
                    "transferItems": [
                        {
                            "instrument": {"symbol": order.symbol, "assetType": "EQUITY"},
                            "amount": float(sign * qty),
                            "price": price,
                            "cost": -sign * qty * price,
                        }
                    ],
                }
            )

    def _after_fill(self, order: _Order) -> None:
        """A TRIGGER's children start working; an OCO's other children are canceled."""
        for child in order.children:
            self._activate(child)
        parent = order.parent
        if parent is not None and parent.spec["orderStrategyType"] == "OCO":
            parent.status = "FILLED"
            for sibling in parent.children:
                if sibling is not order:
                    self._cancel_tree(sibling)

    def _activate(self, order: _Order) -> None:
        if order.status == "AWAITING_PARENT_ORDER":
            order.status = "WORKING"
            for child in order.children:
                if order.spec["orderStrategyType"] != "TRIGGER":
                    self._activate(child)

    # -- the account ------------------------------------------------------------------------
    def account_json(self) -> dict[str, Any]:
        with self.lock:
            positions = []
            value = 0.0
            for symbol, (qty, avg) in sorted(self.positions.items()):
                mark = self.prices.get(symbol, avg)
                value += qty * mark
                positions.append(
                    {
                        "longQuantity": float(max(qty, 0)),
                        "shortQuantity": float(max(-qty, 0)),
                        "averagePrice": avg,
                        "marketValue": qty * mark,
                        "instrument": {"symbol": symbol, "assetType": "EQUITY"},
                    }
                )
            liquidation = self.cash + value
            return {
                "securitiesAccount": {
                    "type": "MARGIN",
                    "accountNumber": self.account_number,
                    "positions": positions,
                    "currentBalances": {
                        "cashBalance": self.cash,
                        "liquidationValue": liquidation,
                        "buyingPower": self.cash,
                    },
                },
                "aggregatedBalance": {"liquidationValue": liquidation},
            }
