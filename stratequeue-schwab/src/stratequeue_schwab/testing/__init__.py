"""A fake Charles Schwab Trader API on 127.0.0.1, for schwab-py pointed at it with
``SCHWAB_BASE_URL``: the OAuth token endpoint (refresh, expiry), account numbers, the account
with positions and balances, orders (place answers 201 and ``Location``, get, list by entered
time, cancel, replace), transactions and the user preference.

Knobs: :meth:`FakeSchwab.fail` (answer the next requests of a kind with an error, before or
after doing the work), :meth:`FakeSchwab.hang_next_post` (accept an order, then answer too late),
:meth:`FakeSchwab.expire_refresh` (refuse the refresh token as Schwab does after 7 days),
:meth:`FakeSchwab.expire_access`. Every request is logged in :attr:`FakeSchwab.requests`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratequeue.testing import LoopbackFake

from .exchange import Exchange

__all__ = ["FakeSchwab"]

_LOCATION = "https://api.schwabapi.com/trader/v1/accounts/{}/orders/{}"
_KINDS = {
    ("POST", "orders"): "submit",
    ("PUT", "order"): "submit",
    ("GET", "orders"): "lookup",
    ("GET", "order"): "lookup",
    ("GET", "account"): "positions",
}


@dataclass
class _Fault:
    status: int
    times: int
    after: bool


def _error(status: int, message: str) -> Any:
    from aiohttp import web

    body = {"message": message, "errors": [message]}
    return web.json_response(body, status=status)


def _parse(text: str) -> datetime:
    value = text.replace("Z", "+00:00")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class FakeSchwab(LoopbackFake):
    def __init__(
        self,
        app_key: str = "fake-app-key",
        app_secret: str = "fake-app-secret",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        from aiohttp import web

        self._vendor(app_key, live=False, rate_limit_per_minute=None, seed=13)
        self.app_secret = app_secret
        self.exchange = Exchange()
        self.access: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.refresh_tokens: set[str] = set()
        self.codes: dict[str, str] = {}  # authorization code -> redirect_uri
        self.faults: dict[str, list[_Fault]] = {}
        self.hang_seconds = 0.0
        #: the next order POST answers a Location naming this other order id (TDA did)
        self.wrong_location: int | None = None
        #: every order POST/PUT body that reached the fake (refused ones too)
        self.order_posts: list[dict[str, Any]] = []
        app = web.Application(middlewares=[self._log_request])
        app.router.add_post("/v1/oauth/token", self._token)
        app.router.add_get("/v1/oauth/authorize", self._authorize)
        r = "/trader/v1"
        app.router.add_get(f"{r}/accounts/accountNumbers", self._numbers)
        app.router.add_get(f"{r}/accounts/{{hash}}", self._account)
        app.router.add_get(f"{r}/accounts/{{hash}}/orders", self._orders)
        app.router.add_post(f"{r}/accounts/{{hash}}/orders", self._place)
        app.router.add_get(f"{r}/accounts/{{hash}}/orders/{{id}}", self._order)
        app.router.add_delete(f"{r}/accounts/{{hash}}/orders/{{id}}", self._cancel)
        app.router.add_put(f"{r}/accounts/{{hash}}/orders/{{id}}", self._replace)
        app.router.add_get(f"{r}/accounts/{{hash}}/transactions", self._transactions)
        app.router.add_get(f"{r}/userPreference", self._preference)
        app.router.add_get("/ws", self._streamer)
        app.router.add_get("/marketdata/v1/pricehistory", self._price_history)
        self._serve(app, host, port)
        self.sockets: set[Any] = set()  # streamer connections logged in and subscribed
        self.chart_sockets: set[Any] = set()  # subscribed to CHART_EQUITY
        #: price history: symbol -> minute (or, under "daily", day) candles as Schwab sends them
        self.minutes: dict[str, list[dict[str, Any]]] = {}
        self.days: dict[str, list[dict[str, Any]]] = {}
        self.stream_logins = 0
        self.exchange.on_execution.append(self._on_execution)

    # -- knobs ------------------------------------------------------------------------------
    def fail(self, kind: str, status: int, times: int = 1, *, after: bool = False) -> None:
        """The next ``times`` requests of ``kind`` (submit, lookup, positions) answer
        ``status`` with Schwab's error body; ``after``: the work is done first."""
        with self._lock:
            self.faults.setdefault(kind, []).append(_Fault(status, times, after))

    def hang_next_post(self, seconds: float) -> None:
        """The next order POST is accepted, then answered only after ``seconds``."""
        self.hang_seconds = seconds

    def expire_refresh(self) -> None:
        """Refuse every refresh token issued so far (Schwab after 7 days)."""
        with self._lock:
            self.refresh_tokens.clear()

    def expire_access(self) -> None:
        with self._lock:
            self.access.clear()

    def drop_streams(self) -> None:
        """Close every streamer connection from the server's side."""

        async def close() -> None:
            for ws in list(self.sockets | self.chart_sockets):
                await ws.close()
            self.sockets.clear()
            self.chart_sockets.clear()

        self.server.call(close())

    def _before_stop(self) -> None:
        with contextlib.suppress(Exception):  # the loop is gone already
            self.drop_streams()

    def _on_execution(self, order_id: int, activity_id: int) -> None:
        message = {
            "data": [
                {
                    "service": "ACCT_ACTIVITY",
                    "timestamp": int(time.time() * 1000),
                    "command": "SUBS",
                    "content": [
                        {
                            "seq": activity_id,
                            "key": "fake-correl",
                            "1": self.exchange.account_number,
                            "2": "OrderFillCompleted",
                            "3": json.dumps({"SchwabOrderID": str(order_id)}),
                        }
                    ],
                }
            ]
        }
        asyncio.run_coroutine_threadsafe(self._push(message), self.server.loop)

    def push_chart(self, symbol: str, candle: dict[str, Any]) -> None:
        """Stream one CHART_EQUITY minute candle (``datetime`` in ms, as price history)."""
        content = {
            "seq": 1,
            "key": symbol,
            "1": 1,
            "2": candle["open"],
            "3": candle["high"],
            "4": candle["low"],
            "5": candle["close"],
            "6": candle["volume"],
            "7": candle["datetime"],
            "8": candle["datetime"] // 86_400_000,
        }
        message = {
            "data": [
                {"service": "CHART_EQUITY", "timestamp": 0, "command": "SUBS", "content": [content]}
            ]
        }
        self.server.call(self._push(message, self.chart_sockets))

    async def _push(self, message: dict[str, Any], sockets: set[Any] | None = None) -> None:
        for ws in list(self.sockets if sockets is None else sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(message))

    def posts(self, signature_of: Any, signature: str) -> int:
        """Order submissions whose ``signature_of(body)`` is ``signature``."""
        with self._lock:
            return sum(1 for body in self.order_posts if signature_of(body) == signature)

    def fill(self, order_id: int, qty: int | None = None, price: float | None = None) -> None:
        ex = self.exchange
        with ex.lock:
            order = ex.orders[order_id]
            fill_qty = order.qty - order.filled if qty is None else qty
            ex.execute(order_id, fill_qty, price if price is not None else ex.prices[order.symbol])

    # -- logins -----------------------------------------------------------------------------
    def issue(self) -> dict[str, Any]:
        """A fresh access and refresh token, as the token endpoint answers them."""
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self._lock:
            self.access[access] = time.time() + 1800
            self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": 1800,
            "scope": "api",
            "id_token": secrets.token_urlsafe(16),
            "expires_at": int(time.time()) + 1800,
        }

    def write_token_file(
        self, path: Path, *, age_days: float = 0.0, access_expired: bool = False
    ) -> dict[str, Any]:
        """A schwab-py token file of a login ``age_days`` old, 0600."""
        from ..token import write_token

        token = self.issue()
        if access_expired:
            token["expires_at"] = int(time.time()) - 60
        data = {"creation_timestamp": int(time.time() - age_days * 86_400), "token": token}
        write_token(path, data)
        return data

    def env(self, token_path: Path, account: str | None = None) -> dict[str, str]:
        return {
            "SCHWAB_APP_KEY": self.api_key,
            "SCHWAB_APP_SECRET": self.app_secret,
            "SCHWAB_TOKEN_PATH": str(token_path),
            "SCHWAB_ACCOUNT": account or self.exchange.account_number,
            "SCHWAB_BASE_URL": self.base_url,
        }

    # -- plumbing ---------------------------------------------------------------------------
    async def _log_request_impl(self, request: Any) -> None:
        self.requests.append(f"{request.method} {request.path_qs}")

    @property
    def _log_request(self) -> Any:
        from aiohttp import web

        @web.middleware
        async def middleware(request: Any, handler: Any) -> Any:
            await self._log_request_impl(request)
            return await handler(request)

        return middleware

    def _authorized(self, request: Any) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        with self._lock:
            expiry = self.access.get(token)
        return expiry is not None and expiry > time.time()

    def _fault(self, kind: str) -> _Fault | None:
        with self._lock:
            queue = self.faults.get(kind) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    async def _guard(self, request: Any, kind: str | None) -> tuple[Any, _Fault | None]:
        """(an answer to send instead, a fault to answer after the work)."""
        if not self._authorized(request):
            return _error(401, "Client not authorized"), None
        if request.match_info.get("hash", self.exchange.account_hash) != self.exchange.account_hash:
            return _error(404, "Account not found"), None
        fault = self._fault(kind) if kind else None
        if fault is not None and not fault.after:
            return _error(fault.status, f"fake fault {fault.status}"), None
        return None, fault

    # -- handlers ---------------------------------------------------------------------------
    async def _token(self, request: Any) -> Any:
        from aiohttp import web

        expected = base64.b64encode(f"{self.api_key}:{self.app_secret}".encode()).decode()
        if request.headers.get("Authorization", "") != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        form = await request.post()
        if form.get("grant_type") == "authorization_code":
            with self._lock:
                redirect = self.codes.pop(str(form.get("code")), None)
            if redirect is None or redirect != form.get("redirect_uri"):
                return web.json_response({"error": "invalid_grant"}, status=400)
            token = self.issue()
            token.pop("expires_at")
            return web.json_response(token)
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        with self._lock:
            known = form.get("refresh_token") in self.refresh_tokens
        if not known:
            return web.json_response(
                {
                    "error": "refresh_token_authentication_error",
                    "error_description": "Failed refresh token authentication",
                },
                status=400,
            )
        token = self.issue()
        with self._lock:  # Schwab keeps the refresh token of the login
            self.refresh_tokens.discard(token["refresh_token"])
            token["refresh_token"] = form["refresh_token"]
        token.pop("expires_at")
        return web.json_response(token)

    async def _authorize(self, request: Any) -> Any:
        """The browser login, done: straight back to the app's callback with a code."""
        from urllib.parse import urlencode

        from aiohttp import web

        query = request.query
        if query.get("client_id") != self.api_key or query.get("response_type") != "code":
            return _error(400, "Invalid client or response type")
        code = secrets.token_urlsafe(12)
        with self._lock:
            self.codes[code] = query.get("redirect_uri", "")
        back = f"{query.get('redirect_uri')}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        raise web.HTTPFound(back)

    async def _numbers(self, request: Any) -> Any:
        from aiohttp import web

        answer, _ = await self._guard(request, None)
        if answer is not None:
            return answer
        ex = self.exchange
        return web.json_response(
            [{"accountNumber": ex.account_number, "hashValue": ex.account_hash}]
        )

    async def _account(self, request: Any) -> Any:
        from aiohttp import web

        answer, fault = await self._guard(request, "positions")
        if answer is not None:
            return answer
        body = self.exchange.account_json()
        if fault is not None:
            return _error(fault.status, f"fake fault {fault.status}")
        return web.json_response(body)

    async def _orders(self, request: Any) -> Any:
        from aiohttp import web

        answer, fault = await self._guard(request, "lookup")
        if answer is not None:
            return answer
        try:
            start = _parse(request.query["fromEnteredTime"])
            end = _parse(request.query["toEnteredTime"])
        except (KeyError, ValueError):
            return _error(400, "fromEnteredTime and toEnteredTime are required")
        if fault is not None:
            return _error(fault.status, f"fake fault {fault.status}")
        return web.json_response(self.exchange.listed(start, end))

    async def _order(self, request: Any) -> Any:
        from aiohttp import web

        answer, fault = await self._guard(request, "lookup")
        if answer is not None:
            return answer
        order = self.exchange.order_json(int(request.match_info["id"]))
        if order is None:
            return _error(404, "Order not found")
        if fault is not None:
            return _error(fault.status, f"fake fault {fault.status}")
        return web.json_response(order)

    async def _accepted(self, order_id: int, fault: _Fault | None, status: int) -> Any:
        from aiohttp import web

        if self.hang_seconds:
            seconds, self.hang_seconds = self.hang_seconds, 0.0
            await asyncio.sleep(seconds)
        if fault is not None:
            return _error(fault.status, f"fake fault {fault.status}")
        if self.wrong_location is not None:
            order_id, self.wrong_location = self.wrong_location, None
        location = _LOCATION.format(self.exchange.account_hash, order_id)
        return web.Response(status=status, headers={"Location": location})

    async def _place(self, request: Any) -> Any:
        spec = json.loads(await request.text())
        with self._lock:
            self.order_posts.append(spec)
        answer, fault = await self._guard(request, "submit")
        if answer is not None:
            return answer
        refusal = self.exchange.refusal(spec)
        if refusal is not None:
            return _error(400, refusal)
        return await self._accepted(self.exchange.place(spec), fault, 201)

    async def _replace(self, request: Any) -> Any:
        spec = json.loads(await request.text())
        with self._lock:
            self.order_posts.append(spec)
        answer, fault = await self._guard(request, "submit")
        if answer is not None:
            return answer
        new_id = self.exchange.replace(int(request.match_info["id"]), spec)
        if new_id is None:
            return _error(400, "Order cannot be replaced: it is not working")
        return await self._accepted(new_id, fault, 201)

    async def _cancel(self, request: Any) -> Any:
        from aiohttp import web

        answer, _ = await self._guard(request, None)
        if answer is not None:
            return answer
        if not self.exchange.cancel(int(request.match_info["id"])):
            return _error(400, "Order cannot be canceled: it is not working")
        return web.Response(status=200)

    async def _transactions(self, request: Any) -> Any:
        from aiohttp import web

        answer, _ = await self._guard(request, None)
        if answer is not None:
            return answer
        with self.exchange.lock:
            return web.json_response(list(self.exchange.transactions))

    async def _streamer(self, request: Any) -> Any:
        """The streamer: ADMIN/LOGIN with the access token, then ACCT_ACTIVITY SUBS."""
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse()
        await ws.prepare(request)
        logged_in = False
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            for req in json.loads(msg.data).get("requests", []):
                service, command = req.get("service"), req.get("command")
                code, text = 0, "ok"
                if (service, command) == ("ADMIN", "LOGIN"):
                    token = req.get("parameters", {}).get("Authorization", "")
                    with self._lock:
                        logged_in = self.access.get(token, 0) > time.time()
                    code, text = (0, "server=fake") if logged_in else (3, "Login denied")
                    self.stream_logins += logged_in
                elif not logged_in:
                    code, text = 3, "Not logged in"
                elif (service, command) == ("ACCT_ACTIVITY", "SUBS"):
                    self.sockets.add(ws)
                elif (service, command) == ("CHART_EQUITY", "SUBS"):
                    self.chart_sockets.add(ws)
                answer = {
                    "service": service,
                    "command": command,
                    "requestid": req.get("requestid"),
                    "SchwabClientCorrelId": req.get("SchwabClientCorrelId"),
                    "timestamp": int(time.time() * 1000),
                    "content": {"code": code, "msg": text},
                }
                await ws.send_str(json.dumps({"response": [answer]}))
        self.sockets.discard(ws)
        self.chart_sockets.discard(ws)
        return ws

    async def _price_history(self, request: Any) -> Any:
        from aiohttp import web

        answer, _ = await self._guard(request, None)
        if answer is not None:
            return answer
        q = request.query
        symbol = q.get("symbol", "")
        tape = self.days if q.get("frequencyType") == "daily" else self.minutes
        start, end = int(q.get("startDate", 0)), int(q.get("endDate", 2**62))
        candles = [c for c in tape.get(symbol, []) if start <= c["datetime"] <= end]
        return web.json_response({"symbol": symbol, "empty": not candles, "candles": candles})

    async def _preference(self, request: Any) -> Any:
        from aiohttp import web

        answer, _ = await self._guard(request, None)
        if answer is not None:
            return answer
        ws = self.base_url.replace("http://", "ws://") + "/ws"
        return web.json_response(
            {
                "accounts": [
                    {"accountNumber": self.exchange.account_number, "primaryAccount": True}
                ],
                "streamerInfo": [
                    {
                        "streamerSocketUrl": ws,
                        "schwabClientCustomerId": "fake-customer",
                        "schwabClientCorrelId": "fake-correl",
                        "schwabClientChannel": "N9",
                        "schwabClientFunctionId": "APIAPP",
                    }
                ],
            }
        )
