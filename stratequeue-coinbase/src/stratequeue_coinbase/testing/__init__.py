"""A fake Coinbase Advanced Trade on 127.0.0.1, over HTTPS with a certificate made at start,
for tests and by hand.

    with FakeCoinbase() as fake:                  # aiohttp in a background thread
        env = fake.env()                          # COINBASE_API_KEY/SECRET/BASE_URL/WS URLs/CA
        fake.exchange.set_price("BTC-USD", 60_000.0)
        ...                                       # drive the plugin (or the official SDK)
        assert fake.exchange.posts["cid-1"] == 1  # order submissions at the wire

By hand: ``python -m stratequeue_coinbase.testing --port 8443``.

Every private request is checked against the test key (``fake.key``). Knobs:
``exchange.reject_next`` (the next orders fail with that error, e.g. ``INSUFFICIENT_FUND``),
``exchange.fill_delay`` (market orders wait for the next price), ``exchange.partial`` (market
orders fill in two executions), ``answer_delay`` (an order is placed, its answer comes that
many seconds later), :meth:`fail` (answer an HTTP status, before or after doing
the work), :meth:`drop_streams` (close every WebSocket), ``block_streams`` (refuse new ones),
:meth:`trade` (a market trade on the market-data WebSocket). ``log`` is the request log.
Needs aiohttp: ``pip install "stratequeue-coinbase[test]"``.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stratequeue.testing import LoopbackFake, ServerThread

from .exchange import Exchange, FakeProduct, user_order
from .tls import Certificate, TestKey, make_certificate, make_key

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["Exchange", "FakeCoinbase", "FakeProduct", "Fault", "Request"]


@dataclass
class Fault:
    method: str
    path: str
    status: int
    times: int = 1
    after: bool = False


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None


class _TLSServerThread(ServerThread):
    """The core's server thread, serving TLS."""

    def __init__(self, app: web.Application, host: str, port: int, cert: Certificate) -> None:
        super().__init__(app, host, port)
        self.cert = cert

    async def _serve(self) -> None:
        from aiohttp import web

        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.cert.server_context()
        )
        await site.start()
        self.port = self._runner.addresses[0][1]


class FakeCoinbase(LoopbackFake):
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cash: float = 100_000.0,
        key: str = "ec",
        live: bool = False,
    ) -> None:
        from .server import build_app

        self.exchange = Exchange(cash)
        self.key: TestKey = make_key(key)
        self.cert = make_certificate()
        self.live = live
        self.log: list[Request] = []
        self.faults: list[Fault] = []
        self.can_trade = True
        self.block_streams = False
        self.answer_delay = 0.0
        self.heartbeat_interval = 1.0
        self.clock: datetime | None = None
        self.sockets: set[Any] = set()
        self.user_sockets: set[Any] = set()
        self.market_sockets: dict[Any, set[str]] = {}
        #: the last 50 trades per product: what a market_trades subscription starts with
        self.recent_trades: dict[str, deque[dict[str, Any]]] = {}
        self._sequence = 0
        self._lock = threading.Lock()
        self.exchange.listeners.append(self._push_order)
        self.server = _TLSServerThread(build_app(self), host, port, self.cert)
        self._live_task = None

    # -- where it is ------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        return str(self.cert.cert_file)

    def env(self) -> dict[str, str]:
        return {
            "COINBASE_API_KEY": self.key.name,
            "COINBASE_API_SECRET": self.key.pem.replace("\n", "\\n"),
            "COINBASE_BASE_URL": self.host,
            "COINBASE_WS_URL": f"wss://{self.host}/ws/market",
            "COINBASE_WS_USER_URL": f"wss://{self.host}/ws/user",
            "COINBASE_CA_FILE": self.ca_file,
        }

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    # -- the request log and faults ---------------------------------------------------------
    def log_request(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        with self._lock:
            self.log.append(Request(method, path, query, body))

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.log if (r.method, r.path) == (method, path))

    def fail(
        self, method: str, path: str, status: int, *, times: int = 1, after: bool = False
    ) -> None:
        """Answer the next ``times`` requests of ``method path`` with HTTP ``status``;
        ``after``: do the work first (the order is placed), then answer the error."""
        with self._lock:
            self.faults.append(Fault(method, path, status, times, after))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.method, fault.path) == (method, path) and fault.times > 0:
                    fault.times -= 1
                    return fault
            return None

    # -- WebSockets -------------------------------------------------------------------------
    def envelope(self, channel: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
        return {
            "channel": channel,
            "client_id": "",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "sequence_num": sequence,
            "events": events,
        }

    def open_user_orders(self) -> list[dict[str, Any]]:
        with self.exchange.lock:
            return [user_order(o) for o in self.exchange.orders.values() if o["status"] == "OPEN"]

    def _push_order(self, order: dict[str, Any]) -> None:
        message = self.envelope("user", [{"type": "update", "orders": [order]}])
        self._broadcast(list(self.user_sockets), message)

    def trade(
        self, product_id: str, price: float, size: float, at: datetime, trade_id: str = ""
    ) -> None:
        """A trade on the market: sent on ``market_trades`` and ``ticker``."""
        self._sequence += 1
        tid = trade_id or str(self._sequence)
        trade = {
            "trade_id": tid,
            "product_id": product_id,
            "price": str(price),
            "size": str(size),
            "side": "BUY",
            "time": at.isoformat().replace("+00:00", "Z"),
        }
        with self._lock:
            self.recent_trades.setdefault(product_id, deque(maxlen=50)).appendleft(trade)
        message = self.envelope("market_trades", [{"type": "update", "trades": [trade]}])
        ticker = self.envelope(
            "ticker",
            [{"type": "update", "tickers": [{"product_id": product_id, "price": str(price)}]}],
        )
        targets = [ws for ws, ids in self.market_sockets.items() if product_id in ids]
        self._broadcast(targets, message)
        self._broadcast(targets, ticker)

    def trade_snapshot(self, product_ids: list[str]) -> dict[str, Any]:
        with self._lock:
            trades = [t for p in product_ids for t in self.recent_trades.get(p, [])]
        return self.envelope("market_trades", [{"type": "snapshot", "trades": trades}])

    def _broadcast(self, sockets: list[Any], message: dict[str, Any]) -> None:
        if not sockets or not self.server.loop.is_running():
            return

        async def send() -> None:
            for ws in sockets:
                if not ws.closed:
                    await ws.send_json(message)

        # never waited for: the caller may hold the exchange's lock, which handlers need
        if threading.current_thread() is self.server._thread:
            asyncio.ensure_future(send())
        else:
            asyncio.run_coroutine_threadsafe(send(), self.server.loop)

    def forget(self, ws: Any) -> None:
        self.sockets.discard(ws)
        self.user_sockets.discard(ws)
        self.market_sockets.pop(ws, None)

    def drop_streams(self) -> None:
        """Close every WebSocket from the server's side."""

        async def close() -> None:
            for ws in list(self.sockets):
                await ws.close()

        self.server.call(close())

    def _before_stop(self) -> None:
        if self.server.loop.is_running() and self.sockets:
            self.drop_streams()

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.cert.directory, ignore_errors=True)
