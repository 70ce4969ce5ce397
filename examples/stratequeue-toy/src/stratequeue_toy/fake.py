"""A fake Toy Exchange on 127.0.0.1, speaking the wire :mod:`stratequeue_toy.client` speaks.

It is the venue the plugin's tests (and the broker conformance kit) run against, and what
``stratequeue toy-exchange`` serves by hand. Needs aiohttp (the ``test`` extra).

The market is driven from the test: :meth:`FakeToyExchange.set_price` trades the symbol at a
price (working orders it reaches execute), :meth:`FakeToyExchange.execute` fills an order
whatever its limit says. Bars are a deterministic walk per symbol on the minute grid, up to
the fake's clock. With ``live=True`` (``stratequeue toy-exchange``) the fake also trades every
symbol it has orders for at its current bar's close, twice a second, so orders fill by
themselves.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from stratequeue.testing import LoopbackFake

__all__ = ["FakeToyExchange"]


def _now() -> datetime:
    return datetime.now(UTC)


class FakeToyExchange(LoopbackFake):
    """The exchange: one account (cash 100,000), orders, executions and minute bars."""

    def __init__(
        self,
        api_key: str = "toy-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cash: float = 100_000.0,
        clock: Callable[[], datetime] = _now,
        live: bool = False,
    ) -> None:
        self.api_key = api_key
        self.live = live
        self.clock = clock
        self.cash = cash
        self.holdings: dict[str, tuple[float, float]] = {}  # symbol -> (qty, avg price)
        self.prices: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}  # client order id -> order
        self.executions: list[dict[str, Any]] = []
        self.posts: Counter[str] = Counter()  # POST /v1/orders per client order id
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/v1/account", self._account)
        app.router.add_post("/v1/orders", self._submit)
        app.router.add_get("/v1/orders", self._open_orders)
        app.router.add_get("/v1/orders/{cid}", self._order)
        app.router.add_delete("/v1/orders/{cid}", self._cancel)
        app.router.add_get("/v1/executions", self._executions)
        app.router.add_get("/v1/bars", self._bars)
        self._serve(app, host, port)

    # -- the market, driven by the test -----------------------------------------------------
    def set_price(self, symbol: str, price: float) -> None:
        """``symbol`` trades at ``price``: market orders fill there, limits it reaches too."""
        with self._lock:
            self.prices[symbol] = price
            for order in list(self.orders.values()):
                if order["symbol"] != symbol or order["status"] not in ("accepted", "partial"):
                    continue
                limit = order["limit_price"]
                buy = order["side"] == "buy"
                if limit is None or (price <= limit if buy else price >= limit):
                    self._execute(order, order["qty"] - order["filled_qty"], price)

    def execute(self, cid: str, qty: float | None = None, price: float | None = None) -> None:
        """Fill ``qty`` (default: the rest) of order ``cid`` at ``price`` (default: the last)."""
        with self._lock:
            order = self.orders[cid]
            rest = order["qty"] - order["filled_qty"]
            self._execute(
                order,
                rest if qty is None else min(qty, rest),
                self.prices[order["symbol"]] if price is None else price,
            )

    def _execute(self, order: dict[str, Any], qty: float, price: float) -> None:
        signed = qty if order["side"] == "buy" else -qty
        held, avg = self.holdings.get(order["symbol"], (0.0, 0.0))
        new = held + signed
        if new == 0:
            avg = 0.0
        elif held == 0 or (held > 0) != (new > 0):
            avg = price
        elif abs(new) > abs(held):
            avg = (held * avg + signed * price) / new
        self.holdings[order["symbol"]] = (new, avg)
        self.cash -= signed * price
        done = order["filled_qty"] + qty
        order["avg_price"] = (order["avg_price"] * order["filled_qty"] + price * qty) / done
        order["filled_qty"] = done
        order["status"] = "filled" if done >= order["qty"] else "partial"
        self.executions.append(
            {
                "id": f"X{len(self.executions) + 1}",
                "seq": len(self.executions) + 1,
                "client_order_id": order["client_order_id"],
                "symbol": order["symbol"],
                "side": order["side"],
                "qty": qty,
                "price": price,
                "cum_qty": done,
                "time": self.clock().isoformat(),
            }
        )

    async def _live_loop(self) -> None:
        """Trade each symbol with orders at its current bar's close, twice a second."""
        while True:
            start = self.clock().replace(second=0, microsecond=0)
            for symbol in {o["symbol"] for o in list(self.orders.values())}:
                self.set_price(symbol, self._bar(symbol, start)["c"])
            await asyncio.sleep(0.5)

    # -- the wire -----------------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("X-Api-Key") != self.api_key:
            return web.json_response({"error": "invalid API key"}, status=401)
        return await handler(request)

    async def _account(self, request: web.Request) -> web.Response:
        with self._lock:
            positions = [
                {"symbol": s, "qty": q, "avg_price": a, "price": self.prices.get(s, a)}
                for s, (q, a) in self.holdings.items()
                if q != 0
            ]
            return web.json_response(
                {"account_id": "TOY-1", "cash": self.cash, "positions": positions}
            )

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        cid = str(body.get("client_order_id", ""))
        with self._lock:
            self.posts[cid] += 1
            if cid in self.orders:
                return web.json_response(
                    {"error": f"client_order_id {cid} already exists"}, status=409
                )
            qty = float(body.get("qty") or 0)
            if not qty > 0 or not math.isfinite(qty):
                return web.json_response({"error": "qty must be positive"}, status=422)
            if body.get("type") not in ("market", "limit"):
                return web.json_response({"error": "type must be market or limit"}, status=422)
            order = {
                "id": f"T{next(self._ids)}",
                "client_order_id": cid,
                "symbol": body["symbol"],
                "side": body["side"],
                "qty": qty,
                "type": body["type"],
                "limit_price": body.get("limit_price"),
                "status": "accepted",
                "filled_qty": 0.0,
                "avg_price": 0.0,
            }
            self.orders[cid] = order
            return web.json_response(dict(order))

    async def _order(self, request: web.Request) -> web.Response:
        with self._lock:
            order = self.orders.get(request.match_info["cid"])
            if order is None:
                return web.json_response({"error": "no such order"}, status=404)
            return web.json_response(dict(order))

    async def _open_orders(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(
                [dict(o) for o in self.orders.values() if o["status"] in ("accepted", "partial")]
            )

    async def _cancel(self, request: web.Request) -> web.Response:
        with self._lock:
            order = self.orders.get(request.match_info["cid"])
            if order is None:
                return web.json_response({"error": "no such order"}, status=404)
            if order["status"] in ("accepted", "partial"):
                order["status"] = "canceled"
            return web.json_response(dict(order))

    async def _executions(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", 0))
        since = request.query.get("since")
        with self._lock:
            rows = [e for e in self.executions if e["seq"] > after]
        if since:
            rows = [
                e
                for e in rows
                if datetime.fromisoformat(e["time"]) >= datetime.fromisoformat(since)
            ]
        return web.json_response(rows)

    async def _bars(self, request: web.Request) -> web.Response:
        """Closed minute bars of ``symbol``: the last ``limit``, or those after ``after``."""
        symbol = request.query["symbol"]
        limit = int(request.query.get("limit", 100))
        last = self.clock().replace(second=0, microsecond=0) - timedelta(minutes=1)
        after = request.query.get("after")
        first = (
            datetime.fromisoformat(after) + timedelta(minutes=1)
            if after
            else last - timedelta(minutes=limit - 1)
        )
        bars: list[dict[str, Any]] = []
        start = first
        while start <= last and len(bars) < limit:
            bars.append(self._bar(symbol, start))
            start += timedelta(minutes=1)
        return web.json_response(bars)

    @staticmethod
    def _bar(symbol: str, start: datetime) -> dict[str, Any]:
        """The same bar for the same symbol and minute, every time it is asked for."""
        minute = int(start.timestamp() // 60)
        digest = hashlib.sha256(f"{symbol}:{minute}".encode()).digest()
        base = 100.0 + 10.0 * math.sin(minute / 50.0)
        noise = [b / 255.0 - 0.5 for b in digest[:4]]
        open_, close = base + noise[0], base + noise[1]
        high = max(open_, close) + abs(noise[2])
        low = min(open_, close) - abs(noise[3])
        return {
            "t": start.isoformat(),
            "o": round(open_, 2),
            "h": round(high, 2),
            "l": round(low, 2),
            "c": round(close, 2),
            "v": float(digest[4] * 10),
        }
