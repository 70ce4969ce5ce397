"""A fake Polygon (Massive) server speaking the real REST and websocket protocols.

For tests and by-hand runs (``pip install "stratequeue-polygon[test]"``)::

    python -m stratequeue_polygon.testing --port 8080 --key test-key

then point the plugin at it with ``POLYGON_API_KEY=test-key``,
``POLYGON_BASE_URL=http://127.0.0.1:8080`` and ``POLYGON_WS_URL=ws://127.0.0.1:8080``.

It serves ``GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}``
(aggregated from stored per-second or per-minute bars, paginated with ``next_url``) and the
``/stocks`` and ``/crypto`` websockets (``auth``, ``subscribe``, ``A``/``AM``/``XAS``/``XA``).
Knobs for tests: ``page_size``, ``websocket`` (False: the plan has no websocket access),
``ws_http_status`` (refuse the upgrade), ``rest_status`` (answer every REST call with an
error), ``rate_limit_per_minute``. With ``live=True`` (the command line default) it invents
a random walk for every subscribed ticker and streams it in real time: a per-second
aggregate every second, a per-minute one every minute. :meth:`FakePolygon.seed_history`
(called for every ``--tickers`` entry, and for any other ticker on first subscription)
stores three days of minute bars and the last ``history_seconds`` seconds of per-second
bars, so runs at every granularity have history to warm up on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from aiohttp import WSMsgType, web
from stratequeue.testing import LoopbackFake, fake_arg_parser, serve_by_hand

from .periods import NEW_YORK

__all__ = ["FakePolygon", "agg_message", "main"]

log = logging.getLogger(__name__)

_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
PLAN_MESSAGE = (
    "Your plan doesn't include websocket access. Visit https://polygon.io/pricing to upgrade."
)


def _ms(ts: datetime | int) -> int:
    return ts if isinstance(ts, int) else int(ts.timestamp() * 1000)


def agg_message(ev: str, name: str, start: datetime | int, o, h, l, c, v=100.0, seconds=None):  # noqa: E741
    """One websocket aggregate: ``ev`` is A/AM (stocks, ``name`` like AAPL) or XAS/XA
    (crypto, ``name`` like BTC-USD)."""
    s = _ms(start)
    length = seconds or (1 if ev in ("A", "XAS") else 60)
    msg: dict[str, Any] = {"ev": ev, "o": o, "h": h, "l": l, "c": c, "v": v, "s": s}
    msg["e"] = s + length * 1000
    msg["vw"] = c
    msg["z"] = 10
    if ev in ("A", "AM"):
        msg.update(sym=name, av=v, op=o, a=c)
    else:
        msg["pair"] = name
    return msg


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    market: str
    request: web.Request
    topics: set[str] = field(default_factory=set)


class FakePolygon(LoopbackFake):
    """Use as a context manager; ``env`` gives the variables that point the plugin here."""

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 5000,
        websocket: bool = True,
        ws_http_status: int | None = None,
        rest_status: int | None = None,
        rate_limit_per_minute: int | None = None,
        live: bool = False,
        history_seconds: int = 0,
        seed: int = 7,
    ) -> None:
        self._vendor(api_key, live=live, rate_limit_per_minute=rate_limit_per_minute, seed=seed)
        self.page_size = page_size
        self.websocket = websocket
        self.ws_http_status = ws_http_status
        self.rest_status = rest_status
        self.history_seconds = history_seconds
        self.bars: dict[tuple[str, int], dict[int, dict[str, Any]]] = defaultdict(dict)
        self.rate_limited = 0
        self.ws_auth_attempts = 0
        self.ws_connections_total = 0
        self._conns: list[_Conn] = []
        app = web.Application()
        app.router.add_get(
            "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from_}/{to}", self._aggs
        )
        app.router.add_get("/stocks", self._socket)
        app.router.add_get("/crypto", self._socket)
        self._serve(app, host, port)

    # -- lifecycle -----------------------------------------------------------------------

    def _before_stop(self) -> None:
        try:
            self.server.call(self._close_all(code=1001))
        except Exception as exc:  # the loop may already be gone
            log.debug("closing fake sockets: %r", exc)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "POLYGON_API_KEY": self.api_key,
            "POLYGON_BASE_URL": self.base_url,
            "POLYGON_WS_URL": self.ws_url,
        }

    # -- data ----------------------------------------------------------------------------

    def add_bars(self, ticker: str, seconds: int, rows) -> None:
        """Store base bars of ``seconds`` length (1 or 60): rows of (start, o, h, l, c, v)."""
        with self._lock:
            store = self.bars[(ticker, seconds)]
            for start, o, h, l, c, v in rows:  # noqa: E741
                t = _ms(start)
                store[t] = {"t": t, "o": o, "h": h, "l": l, "c": c, "v": v, "vw": c, "n": 5}

    def push(self, market: str, messages: list[dict[str, Any]]) -> int:
        """Send aggregates to the subscribed clients of ``market``; returns how many got some."""
        return self.server.call(self._push(market, messages))

    def drop_connections(self, market: str | None = None) -> None:
        """Cut the sockets without a close frame, like a network failure."""
        self.server.call(self._drop(market))

    def subscribed(self, topic: str) -> bool:
        return any(topic in c.topics for c in list(self._conns))

    def wait_subscribed(self, topic: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.subscribed(topic):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nobody subscribed to {topic} within {timeout} s")
            time.sleep(0.01)

    # -- REST ----------------------------------------------------------------------------

    async def _aggs(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        auth = request.headers.get("Authorization", "")
        if not auth:
            return _error(401, "ERROR", "API Key was not provided")
        if auth != f"Bearer {self.api_key}":
            return _error(401, "ERROR", "Unknown API Key")
        if self._over_rate_limit():
            self.rate_limited += 1
            return _error(
                429,
                "ERROR",
                "You've exceeded the maximum requests per minute, please wait or upgrade "
                "your subscription to continue. https://polygon.io/pricing",
            )
        if self.rest_status == 403:
            return _error(
                403,
                "NOT_AUTHORIZED",
                "You are not entitled to this data. Please upgrade your plan at "
                "https://polygon.io/pricing",
                key="message",
            )
        if self.rest_status is not None:
            return _error(self.rest_status, "ERROR", "Internal server error")
        m = request.match_info
        ticker, multiplier, timespan = m["ticker"], int(m["multiplier"]), m["timespan"]
        if timespan not in _UNIT_SECONDS:
            return _error(400, "ERROR", f"Invalid timespan '{timespan}'")
        start, end = _bound(m["from_"], False), _bound(m["to"], True)
        q = request.query
        descending = q.get("sort") == "desc"
        results = self._aggregate(ticker, multiplier, timespan, start, end)
        if descending:
            results.reverse()
        offset = int(q.get("cursor", "0"))
        page = results[offset : offset + self.page_size]
        body: dict[str, Any] = {
            "ticker": ticker,
            "adjusted": q.get("adjusted", "true") == "true",
            "queryCount": len(page),
            "resultsCount": len(page),
            "count": len(page),
            "status": "OK",
            "request_id": uuid.uuid4().hex,
        }
        if page:
            body["results"] = page
        if offset + self.page_size < len(results):
            query = f"cursor={offset + self.page_size}&sort={'desc' if descending else 'asc'}"
            body["next_url"] = f"https://api.polygon.io{request.path}?{query}"
        return web.json_response(body, dumps=json.dumps)

    def _aggregate(
        self, ticker: str, multiplier: int, timespan: str, start: int, end: int
    ) -> list[dict[str, Any]]:
        base = 1 if timespan == "second" or (ticker, 60) not in self.bars else 60
        with self._lock:
            rows = sorted(self.bars.get((ticker, base), {}).values(), key=lambda r: r["t"])
        groups: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            key = _group(row["t"], multiplier, timespan, daily_ny=not ticker.startswith("X:"))
            if start <= key <= end:
                groups.setdefault(key, []).append(row)
        out = []
        for key in sorted(groups):
            rs = groups[key]
            if len(rs) == 1:
                out.append({**rs[0], "t": key})
                continue
            out.append(
                {
                    "v": sum(r["v"] for r in rs),
                    "vw": rs[-1]["c"],
                    "o": rs[0]["o"],
                    "c": rs[-1]["c"],
                    "h": max(r["h"] for r in rs),
                    "l": min(r["l"] for r in rs),
                    "t": key,
                    "n": sum(r.get("n", 1) for r in rs),
                }
            )
        return out

    # -- websocket -----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.ws_http_status is not None:
            return web.Response(status=self.ws_http_status, text="Forbidden")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        market = request.path.strip("/")
        self.ws_connections_total += 1
        await ws.send_json([_status("connected", "Connected Successfully")])
        conn = _Conn(ws, market, request)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                action, params = data.get("action"), str(data.get("params", ""))
                if action == "auth":
                    self.ws_auth_attempts += 1
                    if params != self.api_key:
                        await ws.send_json([_status("auth_failed", "authentication failed")])
                        await ws.close()
                        break
                    if not self.websocket:
                        await ws.send_json([_status("auth_failed", PLAN_MESSAGE)])
                        await ws.close()
                        break
                    await ws.send_json([_status("auth_success", "authenticated")])
                    self._conns.append(conn)
                elif action in ("subscribe", "unsubscribe") and conn in self._conns:
                    topics = [t.strip() for t in params.split(",") if t.strip()]
                    for topic in topics:
                        if action == "subscribe":
                            conn.topics.add(topic)
                        else:
                            conn.topics.discard(topic)
                    verb = "subscribed to" if action == "subscribe" else "unsubscribed to"
                    await ws.send_json([_status("success", f"{verb}: {t}") for t in topics])
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
        return ws

    async def _push(self, market: str, messages: list[dict[str, Any]]) -> int:
        sent = 0
        for conn in list(self._conns):
            if conn.market != market or conn.ws.closed:
                continue
            mine = [
                m
                for m in messages
                if f"{m['ev']}.{m.get('sym') or m.get('pair')}" in conn.topics
                or f"{m['ev']}.*" in conn.topics
            ]
            if mine:
                await conn.ws.send_str(json.dumps(mine))
                sent += 1
        return sent

    async def _drop(self, market: str | None) -> None:
        for conn in list(self._conns):
            if market is None or conn.market == market:
                self._conns.remove(conn)
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
                else:
                    await conn.ws.close(code=1011)

    async def _close_all(self, code: int) -> None:
        for conn in list(self._conns):
            self._conns.remove(conn)
            await conn.ws.close(code=code)

    # -- live random walk (by-hand runs) ---------------------------------------------------

    def seed_history(self, ticker: str, days: int = 3, seconds: int | None = None) -> None:
        """Minute bars for the last ``days`` days up to the current minute, a random walk;
        then per-second bars for the last ``seconds`` seconds up to the current second
        (default ``history_seconds``), so that a ``1s`` run has history to warm up on."""
        now = datetime.now(UTC).replace(microsecond=0)
        price = 100.0 + self._rng.random() * 100
        for length, count, sigma in (
            (60, days * 1440, 0.001),
            (1, self.history_seconds if seconds is None else seconds, 0.0003),
        ):
            end = now.replace(second=0) if length == 60 else now
            rows = []
            for i in range(count, 0, -1):
                o = price
                price = max(1.0, price * (1 + self._rng.gauss(0, sigma)))
                h, low = max(o, price) * 1.0005, min(o, price) * 0.9995
                volume = float(self._rng.randint(100, 5000) // (60 // length))
                rows.append((end - timedelta(seconds=length * i), o, h, low, price, volume))
            self.add_bars(ticker, length, rows)

    def _last_close(self, ticker: str) -> float:
        with self._lock:
            for length in (1, 60):
                rows = self.bars.get((ticker, length))
                if rows:
                    return float(rows[max(rows)]["c"])
        return 100.0

    async def _live_loop(self) -> None:
        """Each second: a per-second bar for every subscribed ticker; each minute: the
        minute bar built from them (also stored, so REST backfill sees it)."""
        current: dict[str, list[tuple[int, float, float, float, float, float]]] = {}
        while True:
            await asyncio.sleep(1 - time.time() % 1)
            now = int(time.time())
            second = now - 1
            names = {t.split(".", 1)[1] for c in self._conns for t in c.topics}
            for name in names:
                ticker = f"X:{name.replace('-', '')}" if "-" in name else name
                if (ticker, 60) not in self.bars:
                    self.seed_history(ticker)
                prev = current.get(ticker, [])
                o = prev[-1][4] if prev else self._last_close(ticker)
                c = max(1.0, o * (1 + self._rng.gauss(0, 0.0003)))
                row = (second * 1000, o, max(o, c), min(o, c), c, float(self._rng.randint(1, 50)))
                minute = second - second % 60
                if prev and prev[0][0] // 1000 - (prev[0][0] // 1000) % 60 != minute:
                    self._close_minute(ticker, name, prev)
                    prev = []
                current[ticker] = [*prev, row]
                self.add_bars(ticker, 1, [row])
                ev = "XAS" if ticker.startswith("X:") else "A"
                await self._push(
                    "crypto" if ev == "XAS" else "stocks",
                    [agg_message(ev, name, row[0], *row[1:])],
                )

    def _close_minute(self, ticker: str, name: str, rows) -> None:
        start = rows[0][0] - rows[0][0] % 60000
        o, c = rows[0][1], rows[-1][4]
        h, low = max(r[2] for r in rows), min(r[3] for r in rows)
        v = sum(r[5] for r in rows)
        self.add_bars(ticker, 60, [(start, o, h, low, c, v)])
        ev = "XA" if ticker.startswith("X:") else "AM"
        market = "crypto" if ev == "XA" else "stocks"
        asyncio.ensure_future(self._push(market, [agg_message(ev, name, start, o, h, low, c, v)]))


def _status(status: str, message: str) -> dict[str, str]:
    return {"ev": "status", "status": status, "message": message}


def _error(http: int, status: str, text: str, key: str = "error") -> web.Response:
    return web.json_response(
        {"status": status, "request_id": uuid.uuid4().hex, key: text}, status=http
    )


def _bound(text: str, upper: bool) -> int:
    """A ``from``/``to`` path value: epoch milliseconds or a YYYY-MM-DD date (UTC)."""
    if text.isdigit():
        return int(text)
    day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    return _ms(day + timedelta(days=1)) - 1 if upper else _ms(day)


def _group(t_ms: int, multiplier: int, timespan: str, *, daily_ny: bool) -> int:
    if timespan == "day":
        tz = NEW_YORK if daily_ny else UTC
        local = datetime.fromtimestamp(t_ms / 1000, tz=tz)
        return _ms(datetime.combine(local.date(), dtime(), tz))
    size = multiplier * _UNIT_SECONDS[timespan] * 1000
    return t_ms - t_ms % size


def main(argv: list[str] | None = None) -> None:
    parser = fake_arg_parser("Polygon server (REST + websocket)", 8080)
    parser.add_argument("--no-websocket", action="store_true", help="act as a free plan")
    parser.add_argument("--tickers", default="AAPL,MSFT,X:BTCUSD,X:ETHUSD")
    parser.add_argument(
        "--history-seconds",
        type=int,
        default=600,
        help="per-second bars of history to invent per ticker (for --granularity 1s runs)",
    )
    args = parser.parse_args(argv)
    fake = FakePolygon(
        args.key,
        host=args.host,
        port=args.port,
        websocket=not args.no_websocket,
        live=True,
        history_seconds=args.history_seconds,
    )
    for ticker in args.tickers.split(","):
        fake.seed_history(ticker.strip())
    serve_by_hand(
        fake,
        "Fake Polygon on %s. Set POLYGON_BASE_URL=%s POLYGON_WS_URL=%s and POLYGON_API_KEY "
        "to the --key value",
        fake.base_url,
        fake.base_url,
        fake.ws_url,
    )


if __name__ == "__main__":
    main()
