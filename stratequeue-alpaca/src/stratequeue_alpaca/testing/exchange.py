"""The fake's trading state: assets, prices, orders, positions and the account, kept
consistent, with Alpaca's JSON shapes and error bodies. No networking here."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .activities import ActivityLog
from .errors import ApiError

__all__ = ["ApiError", "Exchange", "FakeAsset"]

_TERMINAL = {"filled", "canceled", "expired", "rejected", "replaced"}
#: "Order cannot be replaced when the status is accepted, pending_new, pending_cancel or
#: pending_replace" (Alpaca's Replace an Order reference)
_UNREPLACEABLE = {"accepted", "pending_new", "pending_cancel", "pending_replace"}


def _now(clock: datetime | None = None) -> str:
    return (clock or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _key(symbol: str) -> str:
    return symbol.replace("/", "").upper()


@dataclass
class FakeAsset:
    symbol: str  # BTC/USD for crypto, the ticker for stocks
    crypto: bool = False
    fractionable: bool = True
    shortable: bool = True
    tradable: bool = True
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": "crypto" if self.crypto else "us_equity",
            "exchange": "CRYPTO" if self.crypto else "NASDAQ",
            "symbol": self.symbol,
            "name": self.symbol,
            "status": "active",
            "tradable": self.tradable,
            "marginable": not self.crypto,
            "shortable": self.shortable and not self.crypto,
            "easy_to_borrow": self.shortable and not self.crypto,
            "fractionable": self.fractionable,
            "attributes": [],
        }


@dataclass
class _Position:
    asset: FakeAsset
    qty: float = 0.0
    avg: float = 0.0


class Exchange:
    """Orders fill at the symbol's price: at once (``fill_mode="immediate"``), on the next
    pushed bar (``"on_bar"``), or only when told (``"manual"``); ``partial_fills=n`` splits each
    fill into n executions. ``fill_delay`` (seconds, "immediate" mode) leaves a new order
    accepted and not filled for that long: it then fills at the price of that moment, its
    events going to ``listener`` (the window between "accepted" and "filled" a crash can hit).
    Each execution is also a FILL activity in :attr:`activities`. Every method is thread-safe and returns the trade_updates events
    it produced (``{"event", "order", ...}`` dicts) for the server to broadcast.

    In ``"immediate"`` mode :meth:`set_price` is a price move too: resting orders it reaches
    (limits, stops, OCO legs) fill, and their events go to ``listener`` (the server sets it to
    broadcast them on trade_updates).

    OCO (``order_class="oco"``), as Alpaca models it: the order is the take-profit limit (its
    price from ``take_profit.limit_price``) and ``legs`` holds one stop order (``stop_loss``),
    both working at once; whichever is reached fills and the other is canceled, with a
    trade_updates event for each."""

    def __init__(
        self,
        cash: float = 100_000.0,
        fill_mode: str = "immediate",
        partial_fills: int = 1,
        fill_delay: float = 0.0,
    ) -> None:
        self.lock = threading.RLock()
        self.cash = cash
        self.fill_mode = fill_mode
        self.partial_fills = partial_fills
        self.fill_delay = fill_delay
        #: Alpaca's rule: shares that working sell orders hold cannot be sold again
        #: ("insufficient qty available"); off only to isolate StrateQueue's own translation
        self.hold_shares = True
        #: market orders filled by a bar (:meth:`on_bar`) pay this many basis points over the
        #: bar's open (buys) or get as much under it (sells): a real market's slippage
        self.slippage_bps = 0.0
        #: scripted faults by the order's number (1: the first order placed): ``("reject",
        #: message)`` refuses it (HTTP 403, Alpaca's code 40310000); ``("partial", fraction)``
        #: fills that whole-share part of it where it fills, and cancels the rest
        self.faults: dict[int, tuple[str, Any]] = {}
        self._placed = 0
        self.is_open = True
        self.account_id = str(uuid.uuid4())
        self.activities = ActivityLog(self.account_id)
        self.account_number = "PA3FAKE00001"
        self.assets: dict[str, FakeAsset] = {}
        self.prices: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}  # id -> order json
        self.positions: dict[str, _Position] = {}
        self.listener: Callable[[list[dict[str, Any]]], None] | None = None
        #: The market's time while a bar trades (:meth:`on_bar`): its fills are stamped with it.
        self.clock: datetime | None = None
        #: replays: the exchange's time is the last pushed bar's (orders placed between two
        #: bars are stamped with it, their fills with the next bar's), never the wall clock
        self.bar_time = False
        for sym in ("AAPL", "MSFT", "SPY"):
            self.add_asset(sym)
        self.add_asset("GME", fractionable=False, shortable=False)
        for sym in ("BTC/USD", "ETH/USD"):
            self.add_asset(sym, crypto=True)

    # -- set-up ---------------------------------------------------------------------------
    def add_asset(
        self,
        symbol: str,
        crypto: bool = False,
        fractionable: bool = True,
        shortable: bool = True,
        tradable: bool = True,
    ) -> FakeAsset:
        with self.lock:
            asset = FakeAsset(symbol.upper(), crypto, fractionable, shortable, tradable)
            self.assets[_key(symbol)] = asset
            return asset

    def asset(self, symbol: str) -> FakeAsset:
        asset = self.assets.get(_key(symbol))
        if asset is None:
            raise ApiError(404, 40410000, "asset not found")
        return asset

    def set_price(self, symbol: str, price: float) -> list[dict[str, Any]]:
        """The price of ``symbol`` moves; in "immediate" mode resting orders it reaches fill
        (their events are returned and passed to ``listener``)."""
        with self.lock:
            self.prices[_key(symbol)] = price
            events: list[dict[str, Any]] = []
            if self.fill_mode == "immediate":
                for order in list(self.orders.values()):
                    if _key(order["symbol"]) == _key(symbol):
                        events += self._try_fill(order, price)
        if events and self.listener is not None:  # outside the lock: the server takes it too
            self.listener(events)
        return events

    # -- account and positions -------------------------------------------------------------
    def equity(self) -> float:
        return self.cash + sum(p.qty * self.prices.get(k, p.avg) for k, p in self.positions.items())

    def account_json(self) -> dict[str, Any]:
        with self.lock:
            equity = self.equity()
            return {
                "id": self.account_id,
                "account_number": self.account_number,
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "cash": f"{self.cash:.2f}",
                "equity": f"{equity:.2f}",
                "last_equity": f"{equity:.2f}",
                "portfolio_value": f"{equity:.2f}",
                "buying_power": f"{max(self.cash, 0.0):.2f}",
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "shorting_enabled": True,
                "created_at": "2024-01-02T00:00:00Z",
            }

    def position_json(self, key: str) -> dict[str, Any]:
        p = self.positions[key]
        price = self.prices.get(key, p.avg)
        return {
            "asset_id": p.asset.id,
            "symbol": key,
            "exchange": "CRYPTO" if p.asset.crypto else "NASDAQ",
            "asset_class": "crypto" if p.asset.crypto else "us_equity",
            "avg_entry_price": str(p.avg),
            "qty": str(p.qty),
            "qty_available": str(p.qty),
            "side": "long" if p.qty >= 0 else "short",
            "market_value": str(p.qty * price),
            "cost_basis": str(p.qty * p.avg),
            "unrealized_pl": str(p.qty * (price - p.avg)),
            "current_price": str(price),
        }

    def positions_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.position_json(k) for k, p in self.positions.items() if p.qty != 0]

    def one_position_json(self, symbol: str) -> dict[str, Any]:
        with self.lock:
            p = self.positions.get(_key(symbol))
            if p is None or p.qty == 0:
                raise ApiError(404, 40410000, "position does not exist")
            return self.position_json(_key(symbol))

    # -- orders -----------------------------------------------------------------------------
    def _order_json(self, body: dict[str, Any], asset: FakeAsset, **over: Any) -> dict[str, Any]:
        now = _now(self.clock)
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": asset.id,
            "symbol": asset.symbol,
            "asset_class": "crypto" if asset.crypto else "us_equity",
            "notional": None if body.get("notional") is None else str(body["notional"]),
            "qty": None if body.get("qty") is None else str(body["qty"]),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": body.get("order_class") or "simple",
            "order_type": body.get("type"),
            "type": body.get("type"),
            "side": body.get("side"),
            "time_in_force": body.get("time_in_force"),
            "limit_price": None if body.get("limit_price") is None else str(body["limit_price"]),
            "stop_price": None if body.get("stop_price") is None else str(body["stop_price"]),
            "status": "new",
            "extended_hours": bool(body.get("extended_hours", False)),
            "legs": None,
            "trail_percent": None
            if body.get("trail_percent") is None
            else str(body["trail_percent"]),
            "trail_price": None,
            "hwm": None,
        }
        order.update(over)
        return order

    def by_client_id(self, client_order_id: str) -> dict[str, Any]:
        with self.lock:
            for order in self.orders.values():
                if order["client_order_id"] == client_order_id:
                    return order
            raise ApiError(404, 40410000, "order not found")

    def get(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            if order_id not in self.orders:
                raise ApiError(404, 40410000, "order not found")
            return self.orders[order_id]

    def list_orders(self, status: str = "open") -> list[dict[str, Any]]:
        with self.lock:
            orders = [o for o in self.orders.values() if not o.get("_leg")]
            if status == "open":
                return [o for o in orders if o["status"] not in _TERMINAL or _legs_open(o)]
            if status == "closed":
                return [o for o in orders if o["status"] in _TERMINAL]
            return orders

    def _validate(self, body: dict[str, Any]) -> FakeAsset:
        symbol = str(body.get("symbol") or "")
        asset = self.assets.get(_key(symbol))
        if asset is None:
            raise ApiError(422, 40010001, f"asset {symbol} not found")
        cid = body.get("client_order_id")
        if cid and any(o["client_order_id"] == cid for o in self.orders.values()):
            raise ApiError(422, 40010001, "client_order_id must be unique")
        qty, notional = _num(body.get("qty")), _num(body.get("notional"))
        if qty is not None and qty <= 0:
            raise ApiError(422, 40010001, "qty must be > 0")
        fractional = notional is not None or (qty is not None and qty != int(qty))
        if fractional and not asset.fractionable:
            raise ApiError(422, 40010001, f"asset {asset.symbol} is not fractionable")
        order_class = body.get("order_class") or "simple"
        if order_class not in ("simple", "bracket", "oco", "oto"):
            raise ApiError(422, 40010001, f"invalid order_class: {order_class}")
        if order_class != "simple" and asset.crypto:
            raise ApiError(
                422, 40010001, f"crypto orders not allowed for advanced order_class: {order_class}"
            )
        if order_class == "oco":
            _validate_oco(body)
        if asset.crypto and body.get("time_in_force") not in ("gtc", "ioc"):
            raise ApiError(422, 40010001, "invalid crypto time_in_force")
        price = self.prices.get(_key(symbol))
        held = self.positions.get(_key(symbol), _Position(asset)).qty
        if body.get("side") == "buy":
            cost = (
                notional
                if notional is not None
                else (qty or 0) * float(body.get("limit_price") or price or 0)
            )
            if cost > self.cash:
                raise ApiError(
                    403,
                    40310000,
                    "insufficient buying power",
                    buying_power=f"{self.cash:.2f}",
                    cost_basis=f"{cost:.2f}",
                )
        elif (
            qty is not None
            and held > 0
            and self.hold_shares
            and (reserved := self._held_for_orders(asset)) > 0
        ):
            available = max(held - reserved, 0.0)
            if qty > available + 1e-9:
                raise ApiError(
                    403,
                    40310000,
                    f"insufficient qty available for order (requested: {qty:g}, available: "
                    f"{available:g})",
                    available=f"{available:g}",
                    existing_qty=f"{held:g}",
                    held_for_orders=f"{reserved:g}",
                    symbol=asset.symbol,
                )
        elif qty is not None and qty > held:
            if asset.crypto:
                raise ApiError(
                    403,
                    40310000,
                    f"insufficient balance for {asset.symbol.split('/')[0]} "
                    f"(requested: {qty}, available: {max(held, 0)})",
                )
            if not asset.shortable:
                raise ApiError(403, 40310000, f"asset {asset.symbol} cannot be sold short")
        return asset

    def _held_for_orders(self, asset: FakeAsset) -> float:
        """Shares of a long position that working sell orders hold (Alpaca's
        ``held_for_orders``): an OCO pair, or a bracket's two legs, hold their quantity once."""
        held: dict[str, float] = {}
        for o in self.orders.values():
            if (
                o["side"] != "sell"
                or o["status"] in _TERMINAL
                or o["status"] == "held"
                or _key(o["symbol"]) != _key(asset.symbol)
            ):
                continue
            group = o.get("_leg") or o["id"]
            rest = float(o["qty"] or 0) - float(o["filled_qty"])
            held[group] = max(held.get(group, 0.0), rest)
        return sum(held.values())

    def submit(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Place an order (or raise ApiError); the order and its events."""
        with self.lock:
            asset = self._validate(body)
            self._placed += 1
            fault = self.faults.get(self._placed)
            if fault is not None and fault[0] == "reject":
                raise ApiError(403, 40310000, str(fault[1]))
            over = {}
            if body.get("order_class") == "oco" and body.get("limit_price") is None:
                over["limit_price"] = str(body["take_profit"]["limit_price"])
            order = self._order_json(body, asset, **over)
            if fault is not None and fault[0] == "partial":
                order["_partial"] = float(fault[1])
            self.orders[order["id"]] = order
            if order["order_class"] in ("bracket", "oto"):
                order["legs"] = self._legs(body, asset, order)
            elif order["order_class"] == "oco":
                order["legs"] = self._oco_legs(body, asset, order)
            events = [self._event("new", order)]
            if self.fill_mode == "immediate" and self.fill_delay > 0:
                order["_fills_from"] = time.monotonic() + self.fill_delay
                timer = threading.Timer(self.fill_delay, self._delayed_fill, (order["id"],))
                timer.daemon = True
                timer.start()
            elif self.fill_mode == "immediate":
                price = self.prices.get(_key(asset.symbol))
                working = [order, *(order["legs"] if order["order_class"] == "oco" else [])]
                for o in working:  # an OCO's stop may already be reached
                    events += self._try_fill(o, price)
            return order, events

    def _legs(
        self, body: dict[str, Any], asset: FakeAsset, parent: dict[str, Any]
    ) -> list[dict[str, Any]]:
        exit_side = "sell" if body.get("side") == "buy" else "buy"
        legs = []
        if body.get("take_profit"):
            tp = {"type": "limit", "limit_price": body["take_profit"]["limit_price"]}
            legs.append(tp)
        if body.get("stop_loss"):
            sl = {"type": "stop", "stop_price": body["stop_loss"]["stop_price"]}
            legs.append(sl)
        out = []
        for leg in legs:
            leg_body = {
                **leg,
                "symbol": asset.symbol,
                "side": exit_side,
                "qty": body.get("qty"),
                "time_in_force": body.get("time_in_force"),
                "order_class": parent["order_class"],
            }
            child = self._order_json(leg_body, asset, status="held", _leg=parent["id"])
            self.orders[child["id"]] = child
            out.append(child)
        return out

    def _oco_legs(
        self, body: dict[str, Any], asset: FakeAsset, parent: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """An OCO's one leg: the stop loss, same side and quantity, working at once."""
        stop_loss = body["stop_loss"]
        limit = stop_loss.get("limit_price")
        leg_body = {
            "type": "stop" if limit is None else "stop_limit",
            "stop_price": stop_loss["stop_price"],
            "limit_price": limit,
            "symbol": asset.symbol,
            "side": body.get("side"),
            "qty": body.get("qty"),
            "time_in_force": body.get("time_in_force"),
            "order_class": "oco",
        }
        leg = self._order_json(leg_body, asset, _leg=parent["id"])
        self.orders[leg["id"]] = leg
        return [leg]

    def replace(
        self, order_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """PATCH /v2/orders/{id}: a NEW order (new id, ``replaces`` = the old id) takes the old
        one's place with the prices, quantity or time in force of ``body``; the old order's
        status becomes ``replaced`` (``replaced_by`` = the new id). A bracket's leg is replaced
        on its own: the new order is the parent's leg from then on (held while the parent is)."""
        with self.lock:
            old = self.get(order_id)
            status = old["status"]
            if status in _TERMINAL or status in _UNREPLACEABLE:
                raise ApiError(
                    422, 42210000, f'order is in "{status}" state and cannot be replaced'
                )
            if body.get("client_order_id") and any(
                o["client_order_id"] == body["client_order_id"] for o in self.orders.values()
            ):
                raise ApiError(422, 40010001, "client_order_id must be unique")
            now = _now()
            new = {
                **old,
                "id": str(uuid.uuid4()),
                "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
                "created_at": now,
                "updated_at": now,
                "submitted_at": now,
                "replaces": old["id"],
                "replaced_by": None,
                "status": "held" if status == "held" else "new",
            }
            for key in ("qty", "limit_price", "stop_price", "time_in_force"):
                if body.get(key) is not None:
                    new[key] = body[key] if key == "time_in_force" else str(body[key])
            old.update(status="replaced", replaced_by=new["id"], replaced_at=now, updated_at=now)
            self.orders[new["id"]] = new
            parent = self.orders.get(old.get("_leg") or "")
            if parent is not None:  # the parent's legs name the new order
                parent["legs"] = [new if leg is old else leg for leg in parent["legs"]]
            for leg in old.get("legs") or []:
                leg["_leg"] = new["id"]
            events = [self._event("replaced", old), self._event("new", new)]
            if self.fill_mode == "immediate":
                events += self._try_fill(new, self.prices.get(_key(new["symbol"])))
            return new, events

    def cancel(self, order_id: str) -> list[dict[str, Any]]:
        with self.lock:
            order = self.get(order_id)
            if order["status"] in _TERMINAL:
                raise ApiError(422, 42210000, f'order is already in "{order["status"]}" state')
            events = [self._close(order, "canceled")]
            for leg in order.get("legs") or []:
                if leg["status"] not in _TERMINAL:
                    events.append(self._close(leg, "canceled"))
            return events

    def _close(self, order: dict[str, Any], status: str) -> dict[str, Any]:
        now = _now(self.clock)
        order.update(status=status, updated_at=now)
        order[f"{status}_at" if status != "filled" else "filled_at"] = now
        return self._event(status, order)

    def _event(self, event: str, order: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"event": event, "order": public(order), "timestamp": _now(self.clock), **extra}

    # -- fills ------------------------------------------------------------------------------
    def _trigger_price(self, order: dict[str, Any], price: float | None) -> float | None:
        """Where ``order`` executes at the price ``price``, None if it does not."""
        if price is None:
            return None
        kind, side = order["type"], order["side"]
        limit, stop = _num(order["limit_price"]), _num(order["stop_price"])
        if kind == "market":
            return price
        if kind == "limit" and limit is not None:
            if side == "buy" and price <= limit:
                return min(limit, price)
            if side == "sell" and price >= limit:
                return max(limit, price)
            return None
        if kind in ("stop", "stop_limit") and stop is not None:
            hit = price >= stop if side == "buy" else price <= stop
            if not hit:
                return None
            if kind == "stop_limit" and limit is not None:
                return limit
            # a stop becomes a market order: past the stop (a gap) it fills at the market
            return max(stop, price) if side == "buy" else min(stop, price)
        return None

    def _delayed_fill(self, order_id: str) -> None:
        """``fill_delay`` after it was placed: the order trades if the price reaches it."""
        with self.lock:
            order = self.orders[order_id]
            price = self.prices.get(_key(order["symbol"]))
            working = [order, *(order["legs"] or [] if order["order_class"] == "oco" else [])]
            events = [e for o in working for e in self._try_fill(o, price)]
        if events and self.listener is not None:
            self.listener(events)

    def _try_fill(
        self, order: dict[str, Any], price: float | None, bar: dict[str, float] | None = None
    ) -> list[dict[str, Any]]:
        if order["status"] in _TERMINAL or order["status"] == "held":
            return []
        parent = self.orders.get(order.get("_leg") or "", order)
        if time.monotonic() < parent.get("_fills_from", 0.0):
            return []  # still inside its fill_delay
        at = _bar_price(order, bar) if bar is not None else self._trigger_price(order, price)
        if at is None:
            return []
        if bar is not None and order["type"] == "market" and self.slippage_bps:
            sign = 1.0 if order["side"] == "buy" else -1.0
            at = at * (1.0 + sign * self.slippage_bps / 1e4)
        part = order.pop("_partial", None)
        if part is not None and _num(order["qty"]) is not None:
            qty = float(int(float(order["qty"]) * part))
            events = self.fill(order["id"], qty, at) if qty > 0 else []
            return [*events, self._close(order, "canceled")]
        return self.fill(order["id"], None, at)

    def fill(
        self, order_id: str, qty: float | None = None, price: float | None = None
    ) -> list[dict[str, Any]]:
        """Execute ``qty`` (default: the rest, in ``partial_fills`` pieces) at ``price``."""
        with self.lock:
            order = self.get(order_id)
            asset = self.asset(order["symbol"])
            price = price if price is not None else self.prices.get(_key(asset.symbol))
            if price is None:
                raise ValueError(f"no price for {asset.symbol}: call set_price first")
            total = _num(order["qty"])
            if total is None:  # notional: sized at the fill price
                total = round(float(order["notional"]) / price, 9)
                order["qty"] = str(total)
            done = float(order["filled_qty"])
            if qty is not None:
                pieces = [min(qty, total - done)]
            else:
                rest = total - done
                n = max(1, self.partial_fills)
                pieces = [round(rest / n, 9)] * (n - 1)
                pieces.append(round(rest - sum(pieces), 9))
            events = []
            for piece in pieces:
                if piece <= 0:
                    continue
                events += self._execute(order, asset, piece, price)
            return events

    def _execute(
        self, order: dict[str, Any], asset: FakeAsset, qty: float, price: float
    ) -> list[dict[str, Any]]:
        """One execution: its fill event, then the cancels it causes (an OCO's other leg)."""
        done = float(order["filled_qty"])
        avg = float(order["filled_avg_price"] or 0)
        new_done = round(done + qty, 9)
        # One execution's average is its price (dividing price * qty by qty can lose a bit).
        order["filled_avg_price"] = str(
            price if not done else (avg * done + price * qty) / new_done
        )
        order["filled_qty"] = str(new_done)
        total = float(order["qty"])
        now = _now(self.clock)
        order["updated_at"] = now
        full = new_done >= total - 1e-9
        order["status"] = "filled" if full else "partially_filled"
        if full:
            order["filled_at"] = now
        signed = qty if order["side"] == "buy" else -qty
        self.cash -= signed * price
        pos = self.positions.setdefault(_key(asset.symbol), _Position(asset))
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            pos.avg = (pos.avg * abs(pos.qty) + price * qty) / (abs(pos.qty) + qty)
        elif abs(signed) > abs(pos.qty):
            pos.avg = price
        pos.qty = round(pos.qty + signed, 9)
        canceled = self._after_fill(order) if full else []
        self.activities.record(order, qty, price, self.clock)
        fill = self._event(
            "fill" if full else "partial_fill",
            order,
            execution_id=str(uuid.uuid4()),
            price=str(price),
            qty=str(qty),
            position_qty=str(pos.qty),
        )
        return [fill, *(self._close(o, "canceled") for o in canceled)]

    def _after_fill(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        """Release a bracket's held legs; the orders a fill cancels (one cancels the other)."""
        if order["order_class"] == "oco" and not order.get("_leg"):  # the take-profit filled
            return [leg for leg in order.get("legs") or [] if leg["status"] not in _TERMINAL]
        for leg in order.get("legs") or []:
            if leg["status"] == "held":
                leg["status"] = "new"
        parent_id = order.get("_leg")
        if not parent_id:
            return []
        parent = self.orders[parent_id]
        others = [s for s in parent.get("legs") or [] if s["id"] != order["id"]]
        if parent["order_class"] == "oco":  # the stop filled: the take-profit is the parent
            others.append(parent)
        return [o for o in others if o["status"] not in _TERMINAL]

    def on_bar(
        self, symbol: str, bar: dict[str, float], at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """A bar traded (it began at ``at``): resting orders of ``symbol`` that it reaches fill,
        at backtesting.py's prices (:func:`_bar_price`), stamped ``at``. Stop-loss orders are
        tried before the other orders, as backtesting.py queues them. The legs a bracket's
        fill releases work in the same bar only where backtesting.py lets a trade's SL/TP
        exit in its entry bar (:func:`_legs_work_in_entry_bar`); else from the next bar: the
        bar does not say whether the price reached a leg before or after the entry."""
        with self.lock:
            self.prices[_key(symbol)] = bar["c"]
            if self.fill_mode == "manual":
                return []
            events: list[dict[str, Any]] = []
            self.clock = at
            try:
                again = False
                for order in self._working(symbol):
                    events += self._try_fill(order, None, bar)
                    again = again or _legs_work_in_entry_bar(order, bar)
                if again:  # backtesting.py reprocesses its queue: the new legs can fill too
                    for order in self._working(symbol):
                        events += self._try_fill(order, None, bar)
            finally:
                if not self.bar_time:
                    self.clock = None
            return events

    def _working(self, symbol: str) -> list[dict[str, Any]]:
        """The bar queue's orders working now (not held legs, which a fill may release)."""
        return [o for o in self._bar_queue(symbol) if o["status"] != "held"]

    def _bar_queue(self, symbol: str) -> list[dict[str, Any]]:
        """The order in which a bar reaches ``symbol``'s orders, as backtesting.py's
        ``_Broker.orders``: OCO stop losses first (a trade's SL goes to the front of the queue),
        then orders by age, a bracket's legs right after it, its stop loss before its take
        profit."""
        first: list[dict[str, Any]] = []
        rest: list[dict[str, Any]] = []
        for order in self.orders.values():
            if _key(order["symbol"]) != _key(symbol) or order.get("_leg"):
                continue
            legs = order.get("legs") or []
            stops = [leg for leg in legs if leg["type"] in ("stop", "stop_limit")]
            if order["order_class"] == "oco":
                first += stops
                rest.append(order)
            else:
                rest += [order, *stops, *(leg for leg in legs if leg not in stops)]
        return first + rest


def _bar_price(order: dict[str, Any], bar: dict[str, float]) -> float | None:
    """Where ``order`` executes in ``bar``, None if it does not, by backtesting.py's rules
    (``_Broker._process_orders``): a market order at the open; a stop the bar reaches becomes a
    market order (at the open, or at the stop when the bar opened short of it), a stop-limit a
    limit order for good; a limit at the open when the bar opened past it, else at the limit.
    When a stop-limit's stop and limit are reached in one bar with the limit on the far side of
    the stop, the limit is taken to have been reached first: it can fill from the next bar."""
    buy = order["side"] == "buy"
    kind = order["type"]
    limit, stop = _num(order["limit_price"]), _num(order["stop_price"])
    stop_hit: float | None = None
    if kind in ("stop", "stop_limit") and not order.get("_triggered"):
        if stop is None or not (bar["h"] >= stop if buy else bar["l"] <= stop):
            return None
        stop_hit = stop
        order["_triggered"] = True
    if kind in ("limit", "stop_limit"):
        if limit is None or not (bar["l"] <= limit if buy else bar["h"] >= limit):
            return None
        if stop_hit is not None and (limit <= stop_hit if buy else limit >= stop_hit):
            return None
        base = bar["o"] if stop_hit is None else stop_hit
        return min(base, limit) if buy else max(base, limit)
    if kind == "market":
        return bar["o"]
    if kind == "stop" and stop_hit is not None:
        return max(bar["o"], stop_hit) if buy else min(bar["o"], stop_hit)
    return None


def _legs_work_in_entry_bar(order: dict[str, Any], bar: dict[str, float]) -> bool:
    """Did ``order``, a bracket entry, just fill in ``bar`` where backtesting.py tries its
    SL/TP in the same bar (``_Broker._process_orders`` reprocesses its queue)? A market entry;
    a stop entry whose take-profit the bar reaches while its stop-loss lies beyond the bar
    (unambiguous: the stop and the take-profit are on the same side)."""
    if order["order_class"] != "bracket" or order["status"] != "filled" or not order["legs"]:
        return False
    if order["type"] == "market":
        return True
    if order["type"] != "stop":
        return False
    long = order["side"] == "buy"
    tp = next((_num(leg["limit_price"]) for leg in order["legs"] if leg["type"] == "limit"), None)
    sl = next((_num(leg["stop_price"]) for leg in order["legs"] if leg["type"] == "stop"), None)
    if tp is None or not (tp <= bar["h"] if long else tp >= bar["l"]):
        return False
    return sl is None or (sl < bar["l"] if long else sl > bar["h"])


def _validate_oco(body: dict[str, Any]) -> None:
    take_profit, stop_loss = body.get("take_profit") or {}, body.get("stop_loss") or {}
    if body.get("type") != "limit":
        raise ApiError(422, 40010001, "oco orders must be limit orders")
    if take_profit.get("limit_price") is None or stop_loss.get("stop_price") is None:
        raise ApiError(
            422, 40010001, "oco orders require take_profit.limit_price and stop_loss.stop_price"
        )
    tp, sl = float(take_profit["limit_price"]), float(stop_loss["stop_price"])
    if (body.get("side") == "sell" and tp <= sl) or (body.get("side") == "buy" and tp >= sl):
        raise ApiError(
            422,
            42210000,
            f"take_profit.limit_price {tp} must be on the profit side of stop_loss.stop_price {sl}",
        )


def _legs_open(order: dict[str, Any]) -> bool:
    return any(leg["status"] not in _TERMINAL for leg in order.get("legs") or [])


def public(order: dict[str, Any]) -> dict[str, Any]:
    """An order as Alpaca shows it (no private keys, legs nested)."""
    out = {k: v for k, v in order.items() if not k.startswith("_")}
    if order.get("legs"):
        out["legs"] = [public(leg) for leg in order["legs"]]
    return out
