"""A fake CoinMarketCap Pro API speaking the real REST protocol (envelope, error codes).

For tests and by-hand runs (``pip install "stratequeue-cmc[test]"``)::

    python -m stratequeue_cmc.testing --port 8081 --key test-key

then point the plugin at it with ``CMC_API_KEY=test-key`` and
``CMC_BASE_URL=http://127.0.0.1:8081``.

Serves ``/v1|v2/cryptocurrency/quotes/latest`` (by ``symbol`` or ``id``),
``/v2/cryptocurrency/ohlcv/historical`` and ``/v1/key/info``. Knobs for tests:
``ohlcv_allowed`` (False answers error 1006 like the free plan), ``rate_limit_per_minute``
(error 1008), ``fail_next`` (a queue of ``(http_status, error_code)`` answers to give first,
e.g. ``(200, 1011)``). With ``live=True`` (the command line default) prices random-walk and
``last_updated`` advances every ``update_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from stratequeue.testing import LoopbackFake, fake_arg_parser, serve_by_hand

__all__ = ["FakeCoinMarketCap", "main"]

log = logging.getLogger(__name__)

MESSAGES = {
    400: 'Invalid value for "symbol"',
    1001: "This API Key is invalid.",
    1002: "API key missing.",
    1003: "Your API Key must be activated. Please go to pro.coinmarketcap.com/account/plan.",
    1004: "Your API Key's subscription plan has expired.",
    1005: "An API Key is required for this call.",
    1006: "Your API Key subscription plan doesn't support this endpoint.",
    1007: "This API Key has been disabled. Please contact support.",
    1008: "You've exceeded your API Key's HTTP request rate limit. Rate limits reset every minute.",
    1009: "You've exceeded your API Key's daily rate limit.",
    1010: "You've exceeded your API Key's monthly rate limit.",
    1011: "You've hit an IP rate limit.",
}
HTTP_FOR = {1001: 401, 1002: 401, 1003: 402, 1004: 402, 1005: 403, 1006: 403, 1007: 403}
IDS = {"BTC": 1, "ETH": 1027, "SOL": 5426, "XRP": 52, "DOGE": 74}


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class FakeCoinMarketCap(LoopbackFake):
    def __init__(
        self,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ohlcv_allowed: bool = True,
        rate_limit_per_minute: int | None = None,
        plan_rate_limit: int = 30,
        live: bool = False,
        update_seconds: float = 15.0,
        seed: int = 11,
    ) -> None:
        self._vendor(api_key, live=live, rate_limit_per_minute=rate_limit_per_minute, seed=seed)
        self.ohlcv_allowed = ohlcv_allowed
        self.plan_rate_limit = plan_rate_limit
        self.update_seconds = update_seconds
        self.fail_next: deque[tuple[int, int]] = deque()
        self.quotes: dict[str, dict[str, Any]] = {}
        self.ohlcv: dict[tuple[str, str], list[dict[str, Any]]] = {}
        app = web.Application()
        for version in ("v1", "v2"):
            app.router.add_get(f"/{version}/cryptocurrency/quotes/latest", self._quotes)
        app.router.add_get("/v2/cryptocurrency/ohlcv/historical", self._ohlcv)
        app.router.add_get("/v1/key/info", self._key_info)
        self._serve(app, host, port)

    @property
    def env(self) -> dict[str, str]:
        return {"CMC_API_KEY": self.api_key, "CMC_BASE_URL": self.base_url}

    # -- data ----------------------------------------------------------------------------

    def set_quote(self, symbol: str, price: float | None, volume_24h: float, at: datetime) -> None:
        with self._lock:
            self.quotes[symbol] = {"price": price, "volume_24h": volume_24h, "last_updated": at}

    def add_ohlcv(self, symbol: str, period: str, rows) -> None:
        """``period`` hourly or daily; rows of (time_open, o, h, l, c, v)."""
        length = timedelta(hours=1) if period == "hourly" else timedelta(days=1)
        with self._lock:
            store = self.ohlcv.setdefault((symbol, period), [])
            for t, o, h, l, c, v in rows:  # noqa: E741
                store.append({"t": t, "end": t + length, "o": o, "h": h, "l": l, "c": c, "v": v})
            store.sort(key=lambda r: r["t"])

    # -- HTTP ----------------------------------------------------------------------------

    def _check(self, request: web.Request) -> web.Response | None:
        self.requests.append(request.path_qs)
        key = request.headers.get("X-CMC_PRO_API_KEY") or request.query.get("CMC_PRO_API_KEY")
        if not key:
            return _fail(1002)
        if key != self.api_key:
            return _fail(1001)
        if self.fail_next:
            http, code = self.fail_next.popleft()
            return _fail(code, http)
        if self._over_rate_limit():
            return _fail(1008)
        return None

    async def _quotes(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        v1 = request.path.startswith("/v1/")
        wanted = [s.strip().upper() for s in request.query.get("symbol", "").split(",") if s]
        by_id = [int(i) for i in request.query.get("id", "").split(",") if i]
        if not wanted and not by_id:
            return _fail(400, 400, '"symbol" or "id" is required')
        data: dict[str, Any] = {}
        with self._lock:
            for symbol, q in self.quotes.items():
                coin_id = IDS.get(symbol, 90000 + sum(map(ord, symbol)))
                item = _coin(symbol, coin_id, q)
                if symbol in wanted:
                    data[symbol] = item if v1 else [item]
                elif coin_id in by_id:
                    data[str(coin_id)] = item
        return _ok(data, credits=1)

    async def _ohlcv(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        if not self.ohlcv_allowed:
            return _fail(1006)
        q = request.query
        symbol = q.get("symbol", "").upper()
        period = q.get("time_period", "daily")
        count = min(int(q.get("count", "10")), 10000)
        end = (
            datetime.fromisoformat(q["time_end"].replace("Z", "+00:00"))
            if "time_end" in q
            else None
        )
        with self._lock:
            rows = list(self.ohlcv.get((symbol, period), []))
        if end is not None:
            rows = [r for r in rows if r["end"] <= end + timedelta(milliseconds=1)]
        rows = rows[-count:]
        quotes = [
            {
                "time_open": iso(r["t"]),
                "time_close": iso(r["end"] - timedelta(milliseconds=1)),
                "time_high": iso(r["t"]),
                "time_low": iso(r["t"]),
                "quote": {
                    "USD": {
                        "open": r["o"],
                        "high": r["h"],
                        "low": r["l"],
                        "close": r["c"],
                        "volume": r["v"],
                        "market_cap": 0,
                        "timestamp": iso(r["end"] - timedelta(milliseconds=1)),
                    }
                },
            }
            for r in rows
        ]
        coin = {"id": IDS.get(symbol, 1), "name": symbol, "symbol": symbol, "quotes": quotes}
        return _ok({symbol: [coin]}, credits=1 + len(rows) // 100)

    async def _key_info(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        plan = {
            "credit_limit_daily": 333,
            "credit_limit_monthly": 10000,
            "rate_limit_minute": self.plan_rate_limit,
        }
        usage = {"current_minute": {"requests_made": 0, "requests_left": self.plan_rate_limit}}
        return _ok({"plan": plan, "usage": usage}, credits=0)

    # -- live random walk (by-hand runs) ---------------------------------------------------

    def seed(self, symbols: list[str], days: int = 30) -> None:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        for symbol in symbols:
            price = {"BTC": 60000.0, "ETH": 3000.0}.get(symbol, 100.0)
            for period, step, count in (
                ("hourly", timedelta(hours=1), days * 24),
                ("daily", timedelta(days=1), days),
            ):
                rows, p = [], price
                start = (now if period == "hourly" else now.replace(hour=0)) - step * count
                for i in range(count):
                    o = p
                    p = max(0.01, p * (1 + self._rng.gauss(0, 0.01)))
                    rows.append((start + step * i, o, max(o, p) * 1.002, min(o, p) * 0.998, p, 1e9))
                self.add_ohlcv(symbol, period, rows)
            self.set_quote(symbol, price, 3e10, datetime.now(UTC))

    async def _live_loop(self) -> None:
        while True:
            await asyncio.sleep(self.update_seconds)
            now = datetime.now(UTC)
            with self._lock:
                for q in self.quotes.values():
                    q["price"] = max(0.01, q["price"] * (1 + self._rng.gauss(0, 0.002)))
                    q["volume_24h"] *= 1 + self._rng.gauss(0, 0.001)
                    q["last_updated"] = now


def _coin(symbol: str, coin_id: int, q: dict[str, Any]) -> dict[str, Any]:
    at = iso(q["last_updated"])
    return {
        "id": coin_id,
        "name": symbol.title(),
        "symbol": symbol,
        "slug": symbol.lower(),
        "cmc_rank": 1,
        "last_updated": at,
        "quote": {
            "USD": {
                "price": q["price"],
                "volume_24h": q["volume_24h"],
                "percent_change_1h": 0.1,
                "percent_change_24h": 1.0,
                "market_cap": 1e12,
                "last_updated": at,
            }
        },
    }


def _status(code: int = 0, message: str | None = None, credits: int = 0) -> dict[str, Any]:
    return {
        "timestamp": iso(datetime.now(UTC)),
        "error_code": code,
        "error_message": message,
        "elapsed": 3,
        "credit_count": credits,
        "notice": None,
    }


def _ok(data: Any, credits: int) -> web.Response:
    return web.json_response({"data": data, "status": _status(credits=credits)})


def _fail(code: int, http: int | None = None, message: str | None = None) -> web.Response:
    if http is None:
        http = HTTP_FOR.get(code, 429 if code in (1008, 1009, 1010, 1011) else 400)
    body = {"status": _status(code, message or MESSAGES.get(code, "error"))}
    return web.json_response(body, status=http)


def main(argv: list[str] | None = None) -> None:
    parser = fake_arg_parser("CoinMarketCap Pro API", 8081)
    parser.add_argument("--symbols", default="BTC,ETH,SOL")
    parser.add_argument("--free-plan", action="store_true", help="answer OHLCV with error 1006")
    parser.add_argument("--update-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    fake = FakeCoinMarketCap(
        args.key,
        host=args.host,
        port=args.port,
        ohlcv_allowed=not args.free_plan,
        live=True,
        update_seconds=args.update_seconds,
    )
    fake.seed([s.strip().upper() for s in args.symbols.split(",") if s.strip()])
    serve_by_hand(
        fake,
        "Fake CoinMarketCap on %s: set CMC_BASE_URL to it and CMC_API_KEY to --key",
        fake.base_url,
    )


if __name__ == "__main__":
    main()
