"""The trade_updates websocket in a background thread, with a view of its health.

alpaca-py's ``TradingStream`` reconnects by itself but says nothing about it; the subclass
here counts connections (``generation``) so the broker knows when updates may have been
missed and must be confirmed by polling.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from alpaca.trading.stream import TradingStream

from .redact import hide_outgoing_frames

__all__ = ["TradeUpdateStream"]

log = logging.getLogger(__name__)


class _CountingStream(TradingStream):
    """TradingStream that records each (re)connection and each loss of the socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generation = 0
        self.connected = threading.Event()
        self.stopping = False

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self.generation += 1
        self.connected.set()
        log.info("Alpaca trade_updates stream connected (connection %d)", self.generation)

    async def close(self) -> None:
        if self.connected.is_set() and not self.stopping:
            log.warning("Alpaca trade_updates stream disconnected; fills are confirmed by polling")
        self.connected.clear()
        await super().close()


class TradeUpdateStream:
    """Runs the trade_updates stream in a daemon thread and hands each update to ``on_update``."""

    def __init__(
        self,
        key: str,
        secret: str,
        url: str,
        paper: bool,
        on_update: Callable[[Any], None],
        reconnect_backoff: float = 1.0,
    ) -> None:
        hide_outgoing_frames()
        # the SDK's ping timeout is 180 s: a half-open socket would pass for healthy that long
        params = {"ping_interval": 10, "ping_timeout": 20, "max_queue": 1024}
        self._stream = _CountingStream(
            key, secret, paper=paper, url_override=url, websocket_params=params
        )
        self._stream._reconnect_min_backoff = reconnect_backoff
        self._on_update = on_update
        self._thread: threading.Thread | None = None
        self.url = url

    async def _handle(self, update: Any) -> None:
        try:
            self._on_update(update)
        except Exception:  # one bad update must not kill the stream
            log.exception("Could not process an Alpaca trade update")

    def start(self, wait: float = 10.0) -> bool:
        """Start the thread; True once connected (within ``wait`` seconds)."""
        self._stream.subscribe_trade_updates(self._handle)
        self._thread = threading.Thread(
            target=self._stream.run, name="alpaca-trade-updates", daemon=True
        )
        self._thread.start()
        return self._stream.connected.wait(wait)

    @property
    def generation(self) -> int:
        return self._stream.generation

    @property
    def healthy(self) -> bool:
        alive = self._thread is not None and self._thread.is_alive()
        return alive and self._stream.connected.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join; closes the socket so the SDK does not sit out its 5-s receive wait."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stream.stopping = True
        loop = self._stream._loop
        if loop is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._stream.stop_ws(), loop).result(timeout)
                asyncio.run_coroutine_threadsafe(self._stream.close(), loop).result(timeout)
            except Exception:  # the loop ended while we were stopping it
                log.debug("trade_updates stream already stopped", exc_info=True)
        thread.join(timeout)
