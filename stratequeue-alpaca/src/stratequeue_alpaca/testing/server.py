"""The fake's aiohttp application: Alpaca's REST endpoints, the trade_updates websocket
(JSON in binary frames) and the market-data websockets (msgpack, ``t`` as msgpack Timestamp)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgpack
from aiohttp import WSMsgType, web

from .errors import ApiError
from .exchange import public

if TYPE_CHECKING:
    from . import FakeAlpaca

__all__ = ["build_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}
_OPEN_PATHS = ("/stream", "/v2/iex", "/v2/sip", "/v1beta3/crypto/us")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _bar_json(bar: dict[str, Any]) -> dict[str, Any]:
    ts: datetime = bar["t"]
    return {
        "t": ts.isoformat().replace("+00:00", "Z"),
        "o": bar["o"],
        "h": bar["h"],
        "l": bar["l"],
        "c": bar["c"],
        "v": bar["v"],
        "n": bar.get("n", 1),
        "vw": bar.get("vw", bar["c"]),
    }


def build_app(fake: FakeAlpaca) -> web.Application:
    ex = fake.exchange

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = None
        if request.method in ("POST", "PATCH") and request.can_read_body:
            body = await request.json()
        fake._log(request.method, request.path, dict(request.query), body)
        if request.path in _OPEN_PATHS:
            if fake.streams_blocked:
                return _json({"code": 50300000, "message": "service unavailable"}, 503)
            return await handler(request)
        fault = fake._take_fault(request.method, request.path)
        if fault is not None and not fault.after:
            return await fault.answer() or await handler(request)
        crypto_data = request.path.startswith("/v1beta3/crypto")
        if not crypto_data and (
            request.headers.get("APCA-API-KEY-ID") != fake.key
            or request.headers.get("APCA-API-SECRET-KEY") != fake.secret
        ):
            return _json(_UNAUTHORIZED, 401)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = _json(exc.body, exc.status)
        if fault is not None:
            return await fault.answer() or response
        return response

    async def account(request: web.Request) -> web.Response:
        return _json(ex.account_json())

    async def clock(request: web.Request) -> web.Response:
        return _json(
            {
                "timestamp": "2024-06-03T10:15:00.123456789-04:00",
                "is_open": ex.is_open,
                "next_open": "2024-06-04T09:30:00-04:00",
                "next_close": "2024-06-03T16:00:00-04:00",
            }
        )

    async def asset(request: web.Request) -> web.Response:
        return _json(ex.asset(request.match_info["symbol"]).json())

    async def submit(request: web.Request) -> web.Response:
        order, events = ex.submit(await request.json())
        await fake._broadcast(events)
        return _json(public(order))

    async def list_orders(request: web.Request) -> web.Response:
        orders = ex.list_orders(request.query.get("status", "open"))
        symbols = request.query.get("symbols")
        if symbols:
            wanted = set(symbols.split(","))
            orders = [o for o in orders if o["symbol"] in wanted]
        return _json([public(o) for o in orders])

    async def by_client_id(request: web.Request) -> web.Response:
        return _json(public(ex.by_client_id(request.query.get("client_order_id", ""))))

    async def get_order(request: web.Request) -> web.Response:
        return _json(public(ex.get(request.match_info["id"])))

    async def replace(request: web.Request) -> web.Response:
        order, events = ex.replace(request.match_info["id"], await request.json())
        await fake._broadcast(events)
        return _json(public(order))

    async def cancel(request: web.Request) -> web.Response:
        await fake._broadcast(ex.cancel(request.match_info["id"]))
        return web.Response(status=204)

    async def positions(request: web.Request) -> web.Response:
        return _json(ex.positions_json())

    async def position(request: web.Request) -> web.Response:
        return _json(ex.one_position_json(request.match_info["symbol"]))

    async def activities_of_type(request: web.Request) -> web.Response:
        kind = request.match_info["activity_type"]
        return _json(ex.activities.query(kind, dict(request.query)))

    async def activities(request: web.Request) -> web.Response:
        query = dict(request.query)
        return _json(ex.activities.query(query.pop("activity_types", None), query))

    async def bars(request: web.Request) -> web.Response:
        q = request.query
        start = datetime.fromisoformat(q["start"]) if "start" in q else None
        end = datetime.fromisoformat(q["end"]) if "end" in q else None
        desc = q.get("sort") == "desc"
        limit = min(int(q.get("limit", 10000)), fake.page_size)
        offset = int(q.get("page_token") or 0)
        out: dict[str, list[dict[str, Any]]] = {}
        more = False
        for symbol in q.get("symbols", "").split(","):
            rows = [
                b
                for b in fake.history_rows(symbol, q.get("timeframe", ""))
                if (start is None or b["t"] >= start) and (end is None or b["t"] <= end)
            ]
            rows.sort(key=lambda b: b["t"], reverse=desc)
            page = rows[offset : offset + limit]
            more = more or offset + limit < len(rows)
            if page:
                out[symbol] = [_bar_json(b) for b in page]
        token = str(offset + limit) if more else None
        return _json({"bars": out, "next_page_token": token})

    async def trade_stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        authorized = False
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                data = json.loads(msg.data)
                if data.get("action") == "authenticate":
                    creds = data.get("data", {})
                    authorized = (
                        creds.get("key_id") == fake.key and creds.get("secret_key") == fake.secret
                    )
                    status = "authorized" if authorized else "unauthorized"
                    reply = {
                        "stream": "authorization",
                        "data": {"action": "authenticate", "status": status},
                    }
                    await ws.send_bytes(json.dumps(reply).encode())
                    if not authorized:
                        await ws.close()
                elif data.get("action") == "listen" and authorized:
                    streams = data.get("data", {}).get("streams", [])
                    reply = {"stream": "listening", "data": {"streams": streams}}
                    await ws.send_bytes(json.dumps(reply).encode())
                    if "trade_updates" in streams:
                        fake._trade_sockets.add(ws)
        finally:
            fake._trade_sockets.discard(ws)
        return ws

    async def data_stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
        crypto = request.path.startswith("/v1beta3")
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                data = msgpack.unpackb(msg.data)
                if data.get("action") == "auth":
                    if data.get("key") == fake.key and data.get("secret") == fake.secret:
                        await ws.send_bytes(
                            msgpack.packb([{"T": "success", "msg": "authenticated"}])
                        )
                    else:
                        await ws.send_bytes(
                            msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}])
                        )
                elif data.get("action") == "subscribe":
                    symbols = set(data.get("bars", []))
                    fake._data_sockets[ws] = (crypto, symbols)
                    reply = {
                        "T": "subscription",
                        "trades": [],
                        "quotes": [],
                        "bars": sorted(symbols),
                    }
                    await ws.send_bytes(msgpack.packb([reply]))
        finally:
            fake._data_sockets.pop(ws, None)
        return ws

    app = web.Application(middlewares=[middleware])
    app.router.add_get("/v2/account", account)
    app.router.add_get("/v2/clock", clock)
    app.router.add_get("/v2/assets/{symbol:.+}", asset)
    app.router.add_post("/v2/orders", submit)
    app.router.add_get("/v2/orders", list_orders)
    app.router.add_get("/v2/orders:by_client_order_id", by_client_id)
    app.router.add_get("/v2/orders/{id}", get_order)
    app.router.add_patch("/v2/orders/{id}", replace)
    app.router.add_delete("/v2/orders/{id}", cancel)
    app.router.add_get("/v2/account/activities", activities)
    app.router.add_get("/v2/account/activities/{activity_type}", activities_of_type)
    app.router.add_get("/v2/positions", positions)
    app.router.add_get("/v2/positions/{symbol:.+}", position)
    app.router.add_get("/v2/stocks/bars", bars)
    app.router.add_get("/v1beta3/crypto/us/bars", bars)
    app.router.add_get("/stream", trade_stream)
    for path in ("/v2/iex", "/v2/sip", "/v1beta3/crypto/us"):
        app.router.add_get(path, data_stream)
    return app
