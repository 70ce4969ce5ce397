"""Test helpers for plugins' fake vendor servers: an aiohttp server on 127.0.0.1 in a
background thread, and a runner that drains a data source's blocking ``stream()``.

aiohttp is imported only when a server starts: it is a test dependency of the plugins
(their ``test`` extra), never of the core.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from .models import Bar

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["ServerThread", "StreamRunner"]


class ServerThread:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one) from its own event loop."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._runner: Any = None  # aiohttp.web.AppRunner
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fake-vendor", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake server did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"the fake server failed to start: {self._error}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._cleanup())
        self.loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 5.0) -> Any:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


_DONE = object()


class StreamRunner:
    def __init__(self, source, symbols: list[str]) -> None:
        self.source = source
        self.bars: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(symbols,), daemon=True)
        self.thread.start()

    def _run(self, symbols: list[str]) -> None:
        try:
            for bar in self.source.stream(symbols):
                self.bars.put(bar)
        except BaseException as exc:
            self.error = exc
        finally:
            self.bars.put(_DONE)

    def take(self, n: int, timeout: float = 5.0) -> list[Bar]:
        out: list[Bar] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                item = self.bars.get(timeout=max(0.01, left))
            except queue.Empty:
                raise AssertionError(f"got {len(out)} of {n} bars: {out}") from None
            if item is _DONE:
                raise AssertionError(f"stream ended after {out}: {self.error!r}")
            out.append(item)
        return out

    def quiet(self, seconds: float = 0.3) -> list[Bar]:
        """Whatever arrives within ``seconds`` (expected: nothing)."""
        time.sleep(seconds)
        out = []
        while not self.bars.empty():
            item = self.bars.get()
            if item is not _DONE:
                out.append(item)
        return out

    def stop(self) -> float:
        started = time.monotonic()
        self.source.stop()
        self.thread.join(5)
        assert not self.thread.is_alive(), "stream() did not return after stop()"
        return time.monotonic() - started
