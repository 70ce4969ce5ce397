"""The fake Coinbase's HTTP and WebSocket routes (aiohttp): Advanced Trade REST under
``/api/v3/brokerage``, the user channel at ``/ws/user`` and market data at ``/ws/market``.

Each private request must carry a request token signed by the test key, naming the method,
host and path (``uri``): else 401, as Coinbase answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt
from aiohttp import WSMsgType, web

from .candles import GRANULARITIES, candles

if TYPE_CHECKING:
    from . import FakeCoinbase

__all__ = ["build_app"]

API = "/api/v3/brokerage"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY = web.RequestKey("body", dict[str, Any])


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _error(status: int, error: str, message: str) -> web.Response:
    return _json({"error": error, "error_details": "", "message": message}, status)


def check_token(fake: FakeCoinbase, token: str, uri: str | None) -> str | None:
    """Why ``token`` is not a valid request token of the test key for ``uri``, or None."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, fake.key.public, algorithms=[fake.key.algorithm])
    except jwt.PyJWTError as exc:
        return f"invalid token: {exc}"
    if header.get("kid") != fake.key.name or not header.get("nonce"):
        return "the token's kid is not the API key name, or it has no nonce"
    if claims.get("sub") != fake.key.name or claims.get("iss") != "cdp":
        return "the token's sub is not the API key name, or its iss is not cdp"
    if claims.get("exp", 0) - claims.get("nbf", 0) > 120:
        return "the token lives longer than 120 s"
    if claims.get("uri") != uri:
        return f"the token's uri {claims.get('uri')!r} is not {uri!r}"
    return None


def build_app(fake: FakeCoinbase) -> web.Application:
    ex = fake.exchange

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        body: dict[str, Any] | None = None
        if request.method == "POST" and request.can_read_body:
            body = await request.json()
        fake.log_request(request.method, path, dict(request.query), body)
        if path.startswith("/ws/") or path.startswith(f"{API}/market/"):
            return await handler(request)
        auth = request.headers.get("Authorization", "")
        uri = f"{request.method} {request.host}{path}"
        problem = check_token(fake, auth.removeprefix("Bearer "), uri)
        if not auth.startswith("Bearer ") or problem:
            return _error(401, "UNAUTHENTICATED", problem or "no bearer token")
        fault = fake.take_fault(request.method, path)
        if fault is not None and not fault.after:
            if path == f"{API}/orders" and body is not None:
                ex.posts[str(body.get("client_order_id", ""))] += 1
            return _error(fault.status, "fault", f"HTTP {fault.status} from the fake")
        request[BODY] = body or {}
        response = await handler(request)
        if fake.answer_delay and path == f"{API}/orders" and request.method == "POST":
            await asyncio.sleep(fake.answer_delay)  # placed; the answer comes late
        if fault is not None:
            return _error(fault.status, "fault", f"HTTP {fault.status} from the fake")
        return response

    app = web.Application(middlewares=[middleware])

    async def accounts(request: web.Request) -> web.Response:
        rows = ex.accounts()
        return _json({"accounts": rows, "has_next": False, "cursor": "", "size": len(rows)})

    async def permissions(request: web.Request) -> web.Response:
        return _json(
            {
                "can_view": True,
                "can_trade": fake.can_trade,
                "can_transfer": False,
                "portfolio_uuid": "fake-portfolio",
                "portfolio_type": "DEFAULT",
            }
        )

    async def product(request: web.Request) -> web.Response:
        found = ex.products.get(request.match_info["product_id"])
        if found is None:
            return _error(404, "NOT_FOUND", "product not found")
        return _json(found.wire())

    async def create(request: web.Request) -> web.Response:
        return _json(ex.create(request[BODY]))

    async def get_order(request: web.Request) -> web.Response:
        order = ex.get(request.match_info["order_id"])
        if order is None:
            return _error(404, "NOT_FOUND", "order with this orderID was not found")
        return _json({"order": order})

    async def list_orders(request: web.Request) -> web.Response:
        rows = ex.list_orders(
            request.query.getall("order_status", []), request.query.getall("product_ids", [])
        )
        return _json(_page(request, rows, "orders"))

    async def batch_cancel(request: web.Request) -> web.Response:
        return _json({"results": ex.cancel(list(request[BODY].get("order_ids", [])))})

    async def edit(request: web.Request) -> web.Response:
        body = request[BODY]
        return _json(ex.edit(str(body["order_id"]), str(body["price"]), str(body["size"])))

    async def fills(request: web.Request) -> web.Response:
        rows = ex.list_fills(
            request.query.getall("order_ids", []), request.query.getall("product_ids", [])
        )
        return _json(_page(request, rows, "fills"))

    async def candle_route(request: web.Request) -> web.Response:
        pid = request.match_info["product_id"]
        if pid not in ex.products:
            return _error(404, "NOT_FOUND", "product not found")
        name = request.query.get("granularity", "")
        if name not in GRANULARITIES:
            return _error(400, "INVALID_ARGUMENT", f"granularity {name!r} is not supported")
        start, end = int(request.query["start"]), int(request.query["end"])
        now = int(fake.now().timestamp())
        rows = candles(pid, ex.products[pid].price, start, min(end, now), GRANULARITIES[name])
        if len(rows) > 350:
            return _error(
                400, "INVALID_ARGUMENT", "number of candles requested should be less than 350"
            )
        return _json({"candles": rows})

    async def user_ws(request: web.Request) -> web.StreamResponse:
        return await _socket(fake, request, private=True)

    async def market_ws(request: web.Request) -> web.StreamResponse:
        return await _socket(fake, request, private=False)

    app.router.add_get(f"{API}/accounts", accounts)
    app.router.add_get(f"{API}/key_permissions", permissions)
    app.router.add_get(f"{API}/products/{{product_id}}", product)
    app.router.add_get(f"{API}/market/products/{{product_id}}", product)
    app.router.add_get(f"{API}/products/{{product_id}}/candles", candle_route)
    app.router.add_get(f"{API}/market/products/{{product_id}}/candles", candle_route)
    app.router.add_post(f"{API}/orders", create)
    app.router.add_get(f"{API}/orders/historical/batch", list_orders)
    app.router.add_get(f"{API}/orders/historical/fills", fills)
    app.router.add_get(f"{API}/orders/historical/{{order_id}}", get_order)
    app.router.add_post(f"{API}/orders/batch_cancel", batch_cancel)
    app.router.add_post(f"{API}/orders/edit", edit)
    app.router.add_get("/ws/user", user_ws)
    app.router.add_get("/ws/market", market_ws)
    return app


def _page(request: web.Request, rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Cursor paging: ``cursor`` is the offset of the next page."""
    limit = int(request.query.get("limit", "100"))
    offset = int(request.query.get("cursor") or 0)
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    return {key: page, "has_next": more, "cursor": str(offset + limit) if more else ""}


async def _socket(fake: FakeCoinbase, request: web.Request, *, private: bool) -> web.StreamResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    if fake.block_streams:
        await ws.close()
        return ws
    fake.sockets.add(ws)
    channels: set[str] = set()
    heartbeat: asyncio.Task[None] | None = None
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            channel = str(data.get("channel", ""))
            if data.get("type") != "subscribe":
                continue
            if private and channel != "heartbeats":
                problem = check_token(fake, str(data.get("jwt", "")), None)
                if problem:
                    await ws.send_json({"type": "error", "message": "authentication failure"})
                    await ws.close()
                    break
            channels.add(channel)
            await ws.send_json(
                fake.envelope(
                    "subscriptions",
                    [{"subscriptions": {c: list(data.get("product_ids", [])) for c in channels}}],
                )
            )
            if channel == "user":
                fake.user_sockets.add(ws)
                await ws.send_json(
                    fake.envelope("user", [{"type": "snapshot", "orders": fake.open_user_orders()}])
                )
            elif channel in ("market_trades", "ticker"):
                fake.market_sockets[ws] = set(data.get("product_ids", []))
                if channel == "market_trades":
                    await ws.send_json(fake.trade_snapshot(list(data.get("product_ids", []))))
            elif channel == "heartbeats" and heartbeat is None:
                heartbeat = asyncio.ensure_future(_heartbeats(fake, ws))
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
        fake.forget(ws)
    return ws


async def _heartbeats(fake: FakeCoinbase, ws: web.WebSocketResponse) -> None:
    counter = 0
    while not ws.closed:
        counter += 1
        now = datetime.now(UTC).isoformat()
        event = {"current_time": now, "heartbeat_counter": counter}
        await ws.send_json(fake.envelope("heartbeats", [event]))
        await asyncio.sleep(fake.heartbeat_interval)
