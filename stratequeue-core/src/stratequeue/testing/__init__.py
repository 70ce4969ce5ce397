"""Test helpers for plugins' fake vendor servers: an aiohttp server on 127.0.0.1 in a
background thread, and a runner that drains a data source's blocking ``stream()``.

aiohttp is imported only when a server starts: it is a test dependency of the plugins
(their ``test`` extra), never of the core.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from ..models import Bar

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "LoopbackFake",
    "ManualClock",
    "ServerThread",
    "SourceFactory",
    "StreamRunner",
    "fake_arg_parser",
    "serve_by_hand",
]


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
        """Serve on a thread; returns once listening (``port`` then holds the real one).

        Raises:
            RuntimeError: the server did not start within 10 s, or failed to bind.
        """
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
        """Stop serving and join the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


_DONE = object()


class StreamRunner:
    """Drain ``source.stream(symbols)`` on a thread, so a test can take bars with a timeout."""

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
        """The next ``n`` bars, waiting up to ``timeout`` seconds in all.

        Raises:
            AssertionError: fewer arrived, or the stream ended (with its error).
        """
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
        """Stop the source and wait for ``stream()`` to return; returns the seconds it took.

        Raises:
            AssertionError: ``stream()`` did not return within 5 s of ``stop()``.
        """
        started = time.monotonic()
        self.source.stop()
        self.thread.join(5)
        assert not self.thread.is_alive(), "stream() did not return after stop()"
        return time.monotonic() - started


class LoopbackFake:
    """What every fake vendor shares: served on 127.0.0.1 by a :class:`ServerThread`, used as a
    context manager, an optional live loop (``live=True``) and a per-minute request limit.

    Subclasses build their aiohttp ``app``, call :meth:`_serve`, implement ``_live_loop`` when
    they push data, and override :meth:`_before_stop` to close what they hold open.
    """

    live: bool = False
    rate_limit_per_minute: int | None = None

    def _vendor(
        self, api_key: str, *, live: bool, rate_limit_per_minute: int | None, seed: int
    ) -> None:
        """What every keyed vendor fake keeps: its key, the requests it saw, a seeded walk."""
        self.api_key = api_key
        self.live = live
        self.rate_limit_per_minute = rate_limit_per_minute
        self.requests: list[str] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def _serve(self, app: web.Application, host: str, port: int) -> None:
        self.server = ServerThread(app, host, port)
        self._live_task: Any = None
        self._recent: deque[float] = deque()

    async def _live_loop(self) -> None:
        """Push live data while the fake runs (``live=True``)."""

    def _before_stop(self) -> None:
        """Close connections before the server stops."""

    def start(self) -> Self:
        """Start serving (and the live loop when ``live``); returns the fake."""
        self.server.start()
        if self.live:
            self._live_task = asyncio.run_coroutine_threadsafe(self._live_loop(), self.server.loop)
        return self

    def stop(self) -> None:
        """Stop the live loop, close connections, stop serving."""
        if self._live_task is not None:
            self._live_task.cancel()
        self._before_stop()
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _over_rate_limit(self) -> bool:
        """Count this request; True when it is over ``rate_limit_per_minute`` (not counted)."""
        if self.rate_limit_per_minute is None:
            return False
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 60:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit_per_minute:
            return True
        self._recent.append(now)
        return False


class ManualClock:
    """A settable clock, shared by a data source (``options["clock"]``) and its test."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, now: datetime) -> None:
        """Move the clock to ``now`` (aware UTC)."""
        with self._lock:
            self.now = now


def fake_arg_parser(vendor: str, port: int) -> argparse.ArgumentParser:
    """The options every ``python -m <plugin>.testing`` shares: where to listen, which key."""
    parser = argparse.ArgumentParser(description=f"Run a fake {vendor} on this machine.")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default="test-key", help="the API key it accepts")
    return parser


def serve_by_hand(fake: LoopbackFake, message: str, *args: object) -> None:
    """``python -m <plugin>.testing``: start ``fake``, log how to point the plugin at it, and
    serve until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    fake.start()
    logging.getLogger(type(fake).__module__).info(message, *args)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


class SourceFactory:
    """Build data sources of one class against a fake, with test-friendly option defaults,
    and close every one built (a pytest fixture yields it and calls :meth:`close_all`)."""

    def __init__(self, cls: Any, env: dict[str, str], defaults: dict[str, Any]) -> None:
        self.cls = cls
        self.env = env
        self.defaults = defaults
        self.made: list[Any] = []

    def __call__(
        self, granularity: str = "1m", env: dict[str, str] | None = None, **options: Any
    ) -> Any:
        from ..data.base import DataSourceConfig
        from ..granularity import parse_granularity

        config = DataSourceConfig(
            granularity=parse_granularity(granularity, self.cls.granularities),
            env=self.env if env is None else env,
            options={**self.defaults, **options},
        )
        source = self.cls(config)
        self.made.append(source)
        return source

    def close_all(self) -> None:
        """Close every source this factory built."""
        for source in self.made:
            source.close()
