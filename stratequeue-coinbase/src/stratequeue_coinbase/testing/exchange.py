"""The fake Coinbase's state: balances, products, orders, fills, and the matching that moves
them. Every answer is shaped as Advanced Trade's (``/api/v3/brokerage``). Thread-safe: tests
drive it while the server thread answers requests.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

__all__ = ["Exchange", "FakeProduct"]

USER = "fake-user-1"


@dataclass
class FakeProduct:
    product_id: str
    price: float
    base_increment: str = "0.00000001"
    quote_increment: str = "0.01"
    base_min_size: str = "0.00000001"

    def wire(self) -> dict[str, Any]:
        base, _, quote = self.product_id.partition("-")
        return {
            "product_id": self.product_id,
            "price": _text(self.price),
            "price_percentage_change_24h": "0",
            "volume_24h": "1000",
            "base_increment": self.base_increment,
            "quote_increment": self.quote_increment,
            "quote_min_size": "1",
            "quote_max_size": "10000000",
            "base_min_size": self.base_min_size,
            "base_max_size": "100000",
            "base_name": base,
            "quote_name": quote,
            "status": "online",
            "trading_disabled": False,
            "product_type": "SPOT",
            "quote_currency_id": quote,
            "base_currency_id": base,
            "display_name": self.product_id,
            "is_disabled": False,
            "new": False,
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "auction_mode": False,
        }


def _text(value: float) -> str:
    return format(Decimal(repr(float(value))).normalize(), "f")


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Exchange:
    """Balances per currency, products, orders by id, and fills.

    Knobs: ``reject_next`` (the next orders fail with that Coinbase error), ``fill_delay``
    (market orders wait for the next :meth:`set_price`), ``partial`` (market orders fill in two
    executions), ``fee_rate`` (commission as a fraction of the fill's value).
    """

    def __init__(self, cash: float = 100_000.0, currency: str = "USD") -> None:
        self.lock = threading.RLock()
        self.currency = currency
        self.balances: dict[str, float] = {currency: cash}
        self.account_ids: dict[str, str] = {}
        self.products: dict[str, FakeProduct] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_cid: dict[str, str] = {}
        self.fills: list[dict[str, Any]] = []
        self.posts: Counter[str] = Counter()
        self.reject_next: list[str] = []
        self.fill_delay = False
        self.partial = False
        self.fee_rate = 0.0
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._clock = datetime.now(UTC)
        self._ids = itertools.count(1)
        self.add_product("BTC-USD", 60_000.0)

    # -- set-up -----------------------------------------------------------------------------
    def add_product(self, product_id: str, price: float, **increments: str) -> FakeProduct:
        with self.lock:
            product = FakeProduct(product_id, price, **increments)
            self.products[product_id] = product
            return product

    def now(self) -> datetime:
        """Strictly increasing times, so fills sort in the order they happened."""
        with self.lock:
            self._clock = max(self._clock + timedelta(microseconds=1), datetime.now(UTC))
            return self._clock

    # -- accounts ---------------------------------------------------------------------------
    def holds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for order in self.orders.values():
            if order["status"] != "OPEN":
                continue
            base, _, quote = order["product_id"].partition("-")
            left = float(order["leaves_quantity"])
            if order["side"] == "BUY":
                out[quote] = out.get(quote, 0.0) + left * _limit_of(order, self._price(order))
            else:
                out[base] = out.get(base, 0.0) + left
        return out

    def accounts(self) -> list[dict[str, Any]]:
        with self.lock:
            holds = self.holds()
            out = []
            for currency, total in sorted(self.balances.items()):
                hold = holds.get(currency, 0.0)
                uid = self.account_ids.setdefault(currency, str(uuid.uuid4()))
                out.append(
                    {
                        "uuid": uid,
                        "name": f"{currency} Wallet",
                        "currency": currency,
                        "available_balance": {"value": _text(total - hold), "currency": currency},
                        "default": True,
                        "active": True,
                        "created_at": "2024-01-01T00:00:00Z",
                        "updated_at": "2024-01-01T00:00:00Z",
                        "deleted_at": None,
                        "type": "ACCOUNT_TYPE_FIAT"
                        if currency == self.currency
                        else "ACCOUNT_TYPE_CRYPTO",
                        "ready": True,
                        "hold": {"value": _text(hold), "currency": currency},
                        "retail_portfolio_id": "fake-portfolio",
                    }
                )
            return out

    def available(self, currency: str) -> float:
        return self.balances.get(currency, 0.0) - self.holds().get(currency, 0.0)

    # -- orders -----------------------------------------------------------------------------
    def _price(self, order: dict[str, Any]) -> float:
        return self.products[order["product_id"]].price

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /orders: Coinbase's answer (HTTP 200 either way)."""
        with self.lock:
            cid = str(body.get("client_order_id") or uuid.uuid4().hex)
            self.posts[cid] += 1
            if cid in self.by_cid:  # a repeated client_order_id returns the existing order
                return self._success(self.orders[self.by_cid[cid]])
            pid = str(body.get("product_id", ""))
            side = str(body.get("side", ""))
            config = body.get("order_configuration") or {}
            if pid not in self.products:
                return _failure("INVALID_PRODUCT_ID", "Product does not exist", "UNKNOWN")
            if self.reject_next:
                error = self.reject_next.pop(0)
                return _failure(error, f"order rejected: {error.lower()}", error)
            if side not in ("BUY", "SELL") or len(config) != 1:
                return _failure("INVALID_ARGUMENT", "side and one order_configuration", "")
            kind, params = next(iter(config.items()))
            product = self.products[pid]
            size = _size_of(params, product.price)
            if size <= 0:
                return _failure("INVALID_SIZE", "size must be positive", "PREVIEW_INVALID_SIZE")
            base, _, quote = pid.partition("-")
            order: dict[str, Any] = {
                "order_id": str(uuid.uuid4()),
                "product_id": pid,
                "user_id": USER,
                "order_configuration": config,
                "side": side,
                "client_order_id": cid,
                "status": "OPEN",
                "time_in_force": _tif(kind),
                "created_time": _stamp(self.now()),
                "completion_percentage": "0",
                "filled_size": "0",
                "average_filled_price": "0",
                "fee": "",
                "number_of_fills": "0",
                "filled_value": "0",
                "pending_cancel": False,
                "size_in_quote": "quote_size" in params,
                "total_fees": "0",
                "size_inclusive_of_fees": False,
                "total_value_after_fees": "0",
                "trigger_status": "STOP_PENDING" if "stop" in kind else "INVALID_ORDER_TYPE",
                "order_type": _order_type(kind),
                "reject_reason": "",
                "settled": False,
                "product_type": "SPOT",
                "reject_message": "",
                "cancel_message": "",
                "order_placement_source": "RETAIL_ADVANCED",
                "outstanding_hold_amount": "0",
                "is_liquidation": False,
                "last_fill_time": None,
                "edit_history": [],
                "leaves_quantity": _text(size),
                "_size": size,
                "_quote": float(params["quote_size"]) if "quote_size" in params else None,
            }
            need = size * _limit_of(order, product.price) if side == "BUY" else size
            have = self.available(quote if side == "BUY" else base)
            if need * (1 + self.fee_rate) > have + 1e-9:
                return _failure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    "PREVIEW_INSUFFICIENT_FUND",
                )
            self.orders[order["order_id"]] = order
            self.by_cid[cid] = order["order_id"]
            self._tell(order)
            if kind == "market_market_ioc":
                if not self.fill_delay:  # else it waits for the next set_price
                    self._fill_market(order)
            else:
                self.match(pid)
            if kind in ("sor_limit_ioc", "limit_limit_fok") and order["status"] == "OPEN":
                order["status"] = "CANCELLED"  # what did not fill at once is canceled
                order["cancel_message"] = "Immediate or cancel: not filled"
                self._tell(order)
            return self._success(order)

    def _success(self, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "success": True,
            "success_response": {
                "order_id": order["order_id"],
                "product_id": order["product_id"],
                "side": order["side"],
                "client_order_id": order["client_order_id"],
            },
            "order_configuration": order["order_configuration"],
        }

    def wire(self, order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def get(self, order_id: str) -> dict[str, Any] | None:
        with self.lock:
            order = self.orders.get(order_id)
            return None if order is None else self.wire(order)

    def list_orders(self, statuses: list[str], product_ids: list[str]) -> list[dict[str, Any]]:
        with self.lock:
            out = [
                self.wire(o)
                for o in self.orders.values()
                if (not statuses or o["status"] in statuses)
                and (not product_ids or o["product_id"] in product_ids)
            ]
            return sorted(out, key=lambda o: o["created_time"], reverse=True)

    def cancel(self, order_ids: list[str]) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for oid in order_ids:
                order = self.orders.get(oid)
                ok = order is not None and order["status"] == "OPEN"
                if ok and order is not None:
                    order["status"] = "CANCELLED"
                    order["cancel_message"] = "User requested cancel"
                    self._tell(order)
                reason = (
                    "UNKNOWN_CANCEL_FAILURE_REASON"
                    if ok
                    else ("UNKNOWN_CANCEL_ORDER" if order is None else "INVALID_CANCEL_REQUEST")
                )
                out.append({"success": ok, "failure_reason": reason, "order_id": oid})
            return out

    def edit(self, order_id: str, price: str, size: str) -> dict[str, Any]:
        """POST /orders/edit: a GTC limit order's price and size change in place."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order["status"] != "OPEN":
                return {"success": False, "errors": [{"edit_failure_reason": "ORDER_NOT_FOUND"}]}
            config = order["order_configuration"].get("limit_limit_gtc")
            if config is None:
                return {
                    "success": False,
                    "errors": [{"edit_failure_reason": "CANNOT_EDIT_NON_LIMIT_GTC_ORDER"}],
                }
            filled = float(order["filled_size"])
            if float(size) <= filled:
                return {"success": False, "errors": [{"edit_failure_reason": "INVALID_SIZE"}]}
            order["edit_history"].append(
                {
                    "price": config["limit_price"],
                    "size": config["base_size"],
                    "replace_accept_timestamp": _stamp(self.now()),
                }
            )
            config["limit_price"], config["base_size"] = price, size
            order["_size"] = float(size)
            order["leaves_quantity"] = _text(float(size) - filled)
            self._tell(order)
            self.match(order["product_id"])
            return {"success": True, "errors": []}

    def list_fills(self, order_ids: list[str], product_ids: list[str]) -> list[dict[str, Any]]:
        with self.lock:
            out = [
                dict(f)
                for f in self.fills
                if (not order_ids or f["order_id"] in order_ids)
                and (not product_ids or f["product_id"] in product_ids)
            ]
            return list(reversed(out))  # newest first, as Coinbase answers

    # -- matching ---------------------------------------------------------------------------
    def set_price(self, product_id: str, price: float) -> None:
        with self.lock:
            if product_id not in self.products:
                self.add_product(product_id, price)
            self.products[product_id].price = price
            self.match(product_id)

    def match(self, product_id: str) -> None:
        with self.lock:
            price = self.products[product_id].price
            for order in list(self.orders.values()):
                if order["product_id"] != product_id or order["status"] != "OPEN":
                    continue
                if _reached(order, price):
                    self.execute(order, float(order["leaves_quantity"]), price)

    def _fill_market(self, order: dict[str, Any]) -> None:
        price = self._price(order)
        left = float(order["leaves_quantity"])
        if self.partial:
            half = float(Decimal(repr(left / 2)).quantize(Decimal("0.00000001"), ROUND_DOWN))
            self.execute(order, half, price)
            left = float(order["leaves_quantity"])
        self.execute(order, left, price)

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        """Execute ``qty`` (default: the rest) of a working order, whatever its prices say."""
        with self.lock:
            order = self.orders[self.by_cid[client_order_id]]
            left = float(order["leaves_quantity"])
            self.execute(order, left if qty is None else qty, price or self._price(order))

    def execute(self, order: dict[str, Any], qty: float, price: float) -> None:
        with self.lock:
            left = float(order["leaves_quantity"])
            qty = min(qty, left)
            if qty <= 0:
                return
            base, _, quote = order["product_id"].partition("-")
            value = qty * price
            fee = round(value * self.fee_rate, 8)
            sign = 1 if order["side"] == "BUY" else -1
            self.balances[base] = self.balances.get(base, 0.0) + sign * qty
            self.balances[quote] = self.balances.get(quote, 0.0) - sign * value - fee
            at = self.now()
            trade_id = f"{next(self._ids):08d}-{uuid.uuid4().hex[:12]}"
            self.fills.append(
                {
                    "entry_id": uuid.uuid4().hex,
                    "trade_id": trade_id,
                    "order_id": order["order_id"],
                    "trade_time": _stamp(at),
                    "trade_type": "FILL",
                    "price": _text(price),
                    "size": _text(qty),
                    "commission": _text(fee),
                    "product_id": order["product_id"],
                    "sequence_timestamp": _stamp(at),
                    "liquidity_indicator": "TAKER",
                    "size_in_quote": False,
                    "user_id": USER,
                    "side": order["side"],
                    "retail_portfolio_id": "fake-portfolio",
                }
            )
            filled = float(order["filled_size"]) + qty
            spent = float(order["filled_value"]) + value
            order["filled_size"] = _text(filled)
            order["filled_value"] = _text(spent)
            order["average_filled_price"] = _text(spent / filled)
            order["total_fees"] = _text(float(order["total_fees"]) + fee)
            order["number_of_fills"] = str(int(order["number_of_fills"]) + 1)
            order["leaves_quantity"] = _text(max(0.0, order["_size"] - filled))
            order["completion_percentage"] = _text(round(100 * filled / order["_size"], 2))
            order["last_fill_time"] = _stamp(at)
            if float(order["leaves_quantity"]) <= 1e-12:
                order["status"] = "FILLED"
                order["leaves_quantity"] = "0"
            self._tell(order)

    # -- the user channel -------------------------------------------------------------------
    def _tell(self, order: dict[str, Any]) -> None:
        event = user_order(order)
        for listener in list(self.listeners):
            listener(event)


def user_order(order: dict[str, Any]) -> dict[str, Any]:
    """An order as the ``user`` WebSocket channel shows it."""
    return {
        "order_id": order["order_id"],
        "client_order_id": order["client_order_id"],
        "cumulative_quantity": order["filled_size"],
        "leaves_quantity": order["leaves_quantity"],
        "avg_price": order["average_filled_price"],
        "total_fees": order["total_fees"],
        "status": order["status"],
        "product_id": order["product_id"],
        "creation_time": order["created_time"],
        "order_side": order["side"],
        "order_type": order["order_type"],
        "cancel_reason": order["cancel_message"],
        "reject_reason": order["reject_reason"],
    }


def _failure(error: str, message: str, preview: str) -> dict[str, Any]:
    return {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": error,
            "message": message,
            "error_details": "",
            "preview_failure_reason": preview,
        },
    }


def _size_of(params: dict[str, Any], price: float) -> float:
    if "base_size" in params:
        return float(params["base_size"])
    if "quote_size" in params:
        size = Decimal(str(params["quote_size"])) / Decimal(repr(price))
        return float(size.quantize(Decimal("0.00000001"), ROUND_DOWN))
    return 0.0


def _limit_of(order: dict[str, Any], price: float) -> float:
    params = next(iter(order["order_configuration"].values()))
    return float(params.get("limit_price") or price)


def _tif(kind: str) -> str:
    if kind.endswith("_gtd"):
        return "GOOD_UNTIL_DATE_TIME"
    if kind.endswith("_ioc"):
        return "IMMEDIATE_OR_CANCEL"
    if kind.endswith("_fok"):
        return "FILL_OR_KILL"
    return "GOOD_UNTIL_CANCELLED"


def _order_type(kind: str) -> str:
    if kind.startswith("market"):
        return "MARKET"
    if kind.startswith("stop_limit"):
        return "STOP_LIMIT"
    if kind.startswith("trigger_bracket"):
        return "BRACKET"
    return "LIMIT"


def _reached(order: dict[str, Any], price: float) -> bool:
    """Whether ``price`` executes this working order (a stop-limit triggers first)."""
    kind, params = next(iter(order["order_configuration"].items()))
    buy = order["side"] == "BUY"
    if kind.startswith("market"):
        return True
    if kind.startswith("trigger_bracket"):
        limit, stop = float(params["limit_price"]), float(params["stop_trigger_price"])
        return (price <= limit or price >= stop) if buy else (price >= limit or price <= stop)
    limit = float(params["limit_price"])
    if kind.startswith("stop_limit") and order["trigger_status"] == "STOP_PENDING":
        stop = float(params["stop_price"])
        up = params.get("stop_direction") == "STOP_DIRECTION_STOP_UP"
        if not (price >= stop if up else price <= stop):
            return False
        order["trigger_status"] = "STOP_TRIGGERED"
    return price <= limit if buy else price >= limit
