"""The market-data websockets (stocks, crypto) in background threads, reporting reconnects.

alpaca-py's data streams reconnect by themselves and say nothing of the bars that closed
while the socket was down. The subclass here calls ``on_reconnect`` once it has subscribed
again on a new connection, so the source can backfill the gap from the bars history.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MarketStreams"]

log = logging.getLogger(__name__)


def _reporting(base: type) -> type:
    """``base`` (StockDataStream or CryptoDataStream) that reports each resubscription."""

    class Reporting(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, on_reconnect: Callable[[], None], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.connections = 0
            self._on_reconnect = on_reconnect

        async def _send_subscribe_msg(self) -> None:
            await super()._send_subscribe_msg()
            self.connections += 1
            if self.connections > 1:
                log.warning(
                    "Alpaca %s stream reconnected (connection %d); backfilling missed bars",
                    self._name,
                    self.connections,
                )
                self._on_reconnect()

    return Reporting


class MarketStreams:
    """Runs one stream per market in a daemon thread; :meth:`stop` closes them all."""

    def __init__(self, key: str, secret: str, reconnect_backoff: float) -> None:
        self._key, self._secret = key, secret
        self._backoff = reconnect_backoff
        self._running: list[tuple[Any, threading.Thread]] = []

    def start(
        self,
        crypto: bool,
        url: str,
        symbols: list[str],
        on_bar: Callable[[Any], Any],
        on_reconnect: Callable[[], None],
        feed: str = "iex",
    ) -> None:
        from alpaca.data.enums import CryptoFeed, DataFeed
        from alpaca.data.live import CryptoDataStream, StockDataStream

        stream: Any
        if crypto:
            cls = _reporting(CryptoDataStream)
            stream = cls(
                self._key,
                self._secret,
                feed=CryptoFeed.US,
                url_override=url,
                on_reconnect=on_reconnect,
            )
        else:
            cls = _reporting(StockDataStream)
            stream = cls(
                self._key,
                self._secret,
                feed=DataFeed(feed),
                url_override=url,
                on_reconnect=on_reconnect,
            )
        stream.subscribe_bars(on_bar, *symbols)
        stream._reconnect_min_backoff = self._backoff
        name = f"alpaca-{'crypto' if crypto else 'stock'}-bars"
        thread = threading.Thread(target=stream.run, name=name, daemon=True)
        thread.start()
        self._running.append((stream, thread))

    def stop(self) -> None:
        running, self._running = self._running, []
        for stream, thread in running:
            loop = stream._loop
            if loop is not None and loop.is_running():
                try:
                    asyncio.run_coroutine_threadsafe(stream.stop_ws(), loop).result(5)
                    # closing the socket ends the SDK's 5-s receive wait at once
                    asyncio.run_coroutine_threadsafe(stream.close(), loop).result(5)
                except Exception:
                    log.debug("market-data stream already stopped", exc_info=True)
            thread.join(5)
