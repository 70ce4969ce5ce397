"""A fake Alpaca on 127.0.0.1 speaking the real wire protocol, for tests and by hand.

    with FakeAlpaca() as fake:                      # aiohttp in a background thread
        env = fake.env()                            # PAPER_KEY, PAPER_ENDPOINT, ALPACA_DATA_URL, ...
        fake.exchange.set_price("AAPL", 190.0)
        ...                                         # drive the real alpaca-py through the plugin
        assert fake.count("POST", "/v2/orders", client_order_id="cid-1") == 1

By hand: ``python -m stratequeue_alpaca.testing --port 8080``.

Executions: each is streamed on trade_updates and served as a FILL account activity (with an
id of Alpaca's format, unrelated to the stream's ``execution_id``); ``fill_delay`` keeps a new
order accepted and unfilled for that many seconds. :meth:`FakeAlpaca.posts` counts order
submissions per client order id at the wire.

Faults: :meth:`FakeAlpaca.fail` (answer an HTTP status with Alpaca's error body, before or
after doing the work), :meth:`FakeAlpaca.slow` (answer late), :meth:`FakeAlpaca.drop_streams`
(close every websocket), :meth:`FakeAlpaca.drop_data_streams` (close the market-data ones),
:meth:`FakeAlpaca.hold_stream` / ``release_stream`` (fills happen,
their trade_updates come later, to whoever listens then), ``streams_blocked`` (refuse new websocket connections). Needs aiohttp:
``pip install "stratequeue-alpaca[test]"``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import ApiError
from .exchange import Exchange, FakeAsset

__all__ = ["ApiError", "Exchange", "FakeAlpaca", "FakeAsset", "Fault"]

_BODIES = {
    429: {"code": 42910000, "message": "rate limit exceeded"},
    500: {"code": 50010000, "message": "internal server error occurred"},
    503: {"code": 50310000, "message": "service unavailable"},
    504: {"code": 50410000, "message": "gateway timeout"},
}


@dataclass
class Fault:
    """One injected misbehaviour of ``method path`` for the next ``times`` requests."""

    method: str
    path: str
    status: int | None = None
    body: dict[str, Any] | None = None
    delay: float = 0.0
    after: bool = False  # do the work first (the order is placed), then misbehave
    times: int = 1
    retry_after: str | None = None  # a Retry-After header: seconds or an HTTP date

    async def answer(self) -> Any:
        from aiohttp import web

        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status is None:
            return None
        body = self.body or _BODIES.get(
            self.status, {"code": self.status * 100000, "message": "error"}
        )
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else None
        return web.json_response(body, status=self.status, headers=headers)


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    json: dict[str, Any] | None = field(default=None)


class FakeAlpaca:
    """The fake server. ``exchange`` holds its state (orders, positions, prices, clock)."""

    def __init__(
        self,
        port: int = 0,
        key: str = "FAKEKEYID0000000000",
        secret: str = "fake-secret-0000000000000000000000000",
        fill_mode: str = "immediate",
        partial_fills: int = 1,
        cash: float = 100_000.0,
        fill_delay: float = 0.0,
    ) -> None:
        self.port = port
        self.key = key
        self.secret = secret
        self.exchange = Exchange(
            cash=cash, fill_mode=fill_mode, partial_fills=partial_fills, fill_delay=fill_delay
        )
        #: bars history served for every timeframe that has no rows of its own
        self.bars: dict[str, list[dict[str, Any]]] = {}
        #: bars history of one timeframe (``1Min``, ``1Day``, ...), as the SDK spells it
        self.timeframe_bars: dict[str, dict[str, list[dict[str, Any]]]] = {}
        #: pushed bars join the ``1Min`` history too, as Alpaca's history holds every bar it
        #: streamed (what a reconnecting client backfills from)
        self.record_pushed_bars = False
        self.page_size = 10_000
        self.streams_blocked = False
        self.requests: list[_Request] = []
        #: every trade_updates event, as made (the order's state at that moment), listened to or not
        self.events: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._held: list[bytes] | None = None  # trade_updates frames held back (hold_stream)
        self._lock = threading.Lock()
        self._trade_sockets: set[Any] = set()
        self._data_sockets: dict[Any, tuple[bool, set[str]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self.exchange.listener = self._notify

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self, paper: bool = True) -> dict[str, str]:
        """Environment variables pointing StrateQueue at this fake."""
        data = {"ALPACA_DATA_URL": self.url, "ALPACA_DATA_STREAM_URL": self.ws_url}
        if paper:
            return {
                "PAPER_KEY": self.key,
                "PAPER_SECRET": self.secret,
                "PAPER_ENDPOINT": self.url,
                **data,
            }
        return {
            "ALPACA_API_KEY": self.key,
            "ALPACA_SECRET_KEY": self.secret,
            "ALPACA_BASE_URL": self.url,
            **data,
        }

    def start(self) -> FakeAlpaca:
        try:
            from .server import build_app
        except ImportError as exc:  # aiohttp is an optional extra
            raise RuntimeError(
                f"The fake Alpaca needs aiohttp ({exc}): pip install 'stratequeue-alpaca[test]'"
            ) from exc
        started = threading.Event()
        errors: list[BaseException] = []

        async def serve() -> None:
            from aiohttp import web

            self._runner = web.AppRunner(build_app(self))
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            await site.start()
            self.port = self._runner.addresses[0][1]

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-alpaca", daemon=True)
        self._thread.start()
        started.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.drop_streams()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeAlpaca:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coro: Any, timeout: float = 5.0) -> Any:
        assert self._loop is not None, "start() the fake first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- request log and faults -------------------------------------------------------------
    def _log(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        with self._lock:
            self.requests.append(_Request(method, path, query, body))

    def count(self, method: str, path: str, **json_fields: Any) -> int:
        """How many ``method path`` requests were made (whose JSON bodies match ``json_fields``)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.method == method
                and r.path == path
                and all((r.json or {}).get(k) == v for k, v in json_fields.items())
            )

    def posts(self, client_order_id: str) -> int:
        """How many POST /v2/orders requests carried ``client_order_id``, as they reached the
        wire: refused ones (a fault, a duplicate id) count too. A resent order shows here even
        though the exchange itself never holds two orders with one id."""
        return self.count("POST", "/v2/orders", client_order_id=client_order_id)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: dict[str, Any] | None = None,
        *,
        times: int = 1,
        after: bool = False,
        retry_after: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (after doing the work if ``after``),
        with a ``Retry-After`` header when given."""
        fault = Fault(method, path, status, body, after=after, times=times, retry_after=retry_after)
        with self._lock:
            self._faults.append(fault)

    def slow(
        self, method: str, path: str, seconds: float, *, times: int = 1, after: bool = True
    ) -> None:
        """Answer the next ``times`` requests ``seconds`` late (the work is done first if ``after``)."""
        with self._lock:
            self._faults.append(Fault(method, path, None, delay=seconds, after=after, times=times))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.path == path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    # -- streams ----------------------------------------------------------------------------
    def hold_stream(self) -> None:
        """Hold trade_updates back: fills still happen (and show in the account activities and
        order state) but no client hears of them until :meth:`release_stream`."""
        with self._lock:
            self._held = []

    def release_stream(self) -> int:
        """Send the held events to whoever listens now (a later connection hears of fills
        that happened before it), and stream normally again; how many were sent."""
        with self._lock:
            held, self._held = self._held or [], None

        async def send() -> None:
            for frame in held:
                for ws in list(self._trade_sockets):
                    if not ws.closed:
                        await ws.send_bytes(frame)

        self._run(send())
        return len(held)

    async def _broadcast(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            with self._lock:
                self.events.append(event)
            frame = json.dumps({"stream": "trade_updates", "data": event}).encode()
            with self._lock:
                if self._held is not None:
                    self._held.append(frame)
                    continue
            for ws in list(self._trade_sockets):
                if not ws.closed:
                    await ws.send_bytes(frame)

    def _notify(self, events: list[dict[str, Any]]) -> None:
        """Events the exchange produced outside a request (a price move filled orders)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self._broadcast(events))
        else:
            self._run(self._broadcast(events))

    def broadcast(self, events: Iterable[dict[str, Any]]) -> None:
        """Send trade_updates events (e.g. from ``exchange.fill``) to every listener."""
        self._run(self._broadcast(list(events)))

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        """Execute (part of) an order now and stream the fill."""
        order = self.exchange.by_client_id(client_order_id)
        self.broadcast(self.exchange.fill(order["id"], qty, price))

    @property
    def trade_listeners(self) -> int:
        return len(self._trade_sockets)

    def bar_subscribers(self, symbol: str) -> int:
        return sum(1 for _crypto, symbols in self._data_sockets.values() if symbol in symbols)

    def push_bar(
        self, symbol: str, t: datetime, o: float, h: float, low: float, c: float, v: float = 1000.0
    ) -> None:
        """A closed bar that began at ``t``: streamed to subscribers (msgpack), then resting
        orders fill as backtesting.py fills them in that bar, stamped ``t``."""
        import msgpack

        bar = {"o": o, "h": h, "l": low, "c": c, "v": v}
        message = {
            "T": "b",
            "S": symbol,
            "o": o,
            "h": h,
            "l": low,
            "c": c,
            "v": v,
            "t": msgpack.Timestamp.from_datetime(t),
            "n": 1,
            "vw": c,
        }

        if self.record_pushed_bars:
            self.add_bars(symbol, [(t, o, h, low, c, v)], timeframe="1Min")

        async def send() -> None:
            frame = msgpack.packb([message])
            for ws, (_crypto, symbols) in list(self._data_sockets.items()):
                if symbol in symbols and not ws.closed:
                    await ws.send_bytes(frame)
            await self._broadcast(self.exchange.on_bar(symbol, bar, t))

        self._run(send())

    def add_bars(
        self,
        symbol: str,
        bars: Iterable[tuple[datetime, float, float, float, float, float]],
        timeframe: str | None = None,
    ) -> None:
        """History for the bars endpoints: ``(t, o, h, l, c, v)`` rows, served for
        ``timeframe`` (``1Min``, ``1Day``, ...) or, without one, for any timeframe."""
        rows = [{"t": t, "o": o, "h": h, "l": l, "c": c, "v": v} for t, o, h, l, c, v in bars]  # noqa: E741
        table = self.bars if timeframe is None else self.timeframe_bars.setdefault(timeframe, {})
        with self._lock:
            table.setdefault(symbol, []).extend(rows)

    def history_rows(self, symbol: str, timeframe: str) -> list[dict[str, Any]]:
        """The rows the bars endpoints serve for ``symbol`` at ``timeframe``."""
        with self._lock:
            rows = self.timeframe_bars.get(timeframe, {}).get(symbol)
            return list(self.bars.get(symbol, []) if rows is None else rows)

    def drop_data_streams(self) -> None:
        """Close the market-data websockets from the server side; trade_updates stay up.
        With ``streams_blocked`` set first, the clients stay out until it is cleared."""

        async def close_all() -> None:
            for ws in list(self._data_sockets):
                await ws.close()

        self._run(close_all())

    def drop_streams(self) -> None:
        """Close every websocket from the server side (the clients see a dropped connection)."""

        async def close_all() -> None:
            for ws in [*self._trade_sockets, *self._data_sockets]:
                await ws.close()

        if self._loop is not None and self._loop.is_running():
            self._run(close_all())
