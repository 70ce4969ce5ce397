"""The websocket side: one thread per market running the official Massive client.

The thread turns ``A``/``AM`` (stocks) and ``XAS``/``XA`` (crypto) aggregates into sub-bars
and puts events on a queue for :class:`~stratequeue_polygon.source.PolygonDataSource`:

- :class:`Connected` after each successful subscribe (``reconnect=True`` after a drop, so the
  source backfills the gap over REST),
- lists of sub-bars,
- :class:`NoWebsocket` when the key's plan has no websocket access (the source then polls).

A dropped socket is reopened with exponential backoff. The client is built with
``max_reconnects=0`` so that this loop, not the client, owns reconnecting (the client would
otherwise retry a refused connection for ever without telling anyone).

``massive`` and ``websockets`` are imported when a feed runs, not when this module is: the
plugin is loaded by every ``stratequeue`` command, ``--help`` included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from stratequeue.data.live import Backoff
from stratequeue.models import Bar

from .events import Connected, NoWebsocket
from .rest import agg_bar
from .settings import PolygonSettings
from .symbols import PolygonSymbol

if TYPE_CHECKING:
    from massive import WebSocketClient

__all__ = ["Connected", "NoWebsocket", "WebsocketFeed", "topics_for"]

log = logging.getLogger(__name__)


def topics_for(symbols: Sequence[PolygonSymbol], per_second: bool) -> list[str]:
    """Subscription topics: ``AM.AAPL`` / ``A.AAPL`` for stocks, ``XA.BTC-USD`` /
    ``XAS.BTC-USD`` for crypto."""
    out = []
    for s in symbols:
        if s.is_crypto:
            out.append(f"{'XAS' if per_second else 'XA'}.{s.stream_name}")
        else:
            out.append(f"{'A' if per_second else 'AM'}.{s.stream_name}")
    return out


class WebsocketFeed:
    def __init__(
        self,
        settings: PolygonSettings,
        market: str,
        symbols: Sequence[PolygonSymbol],
        per_second: bool,
        events: queue.Queue,
        *,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.market = market
        self.topics = topics_for(symbols, per_second)
        self._users = {s.stream_name: s.user for s in symbols}
        self.events = events
        self.backoff = backoff or Backoff(first=1.0, cap=60.0)
        self._failures = 0  # drops since the last good subscribe: the backoff's attempt
        self.connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"polygon-ws-{market}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # never let the thread die silently
            log.exception("Polygon %s websocket thread failed", self.market)

    async def _main(self) -> None:
        from massive.exceptions import AuthError

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return
        first = True
        while not self._stop.is_set():
            client = _client_class()(
                api_key=self.settings.api_key,
                feed=self.settings.ws_feed,
                market=self.market,
                secure=self.settings.ws_secure,
                subscriptions=list(self.topics),
                max_reconnects=0,
            )
            try:
                await self._session(client, reconnect=not first)
            except AuthError as exc:
                self.events.put(NoWebsocket(self.market, str(exc)))
                return
            first = False
            if self._stop.is_set():
                break
            delay = self.backoff.delay(self._failures)
            self._failures += 1
            log.warning(
                "Polygon %s websocket disconnected; reconnecting in %.1f s", self.market, delay
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)

    async def _session(self, client: WebSocketClient, *, reconnect: bool) -> None:
        """Run one connection until it drops or stop is asked. Every connection after the
        first is announced as a reconnect, so the source backfills (duplicates are dropped)."""
        from massive.exceptions import AuthError

        assert self._stop is not None
        task = asyncio.create_task(client.connect(self._process))
        stopper = asyncio.create_task(self._stop.wait())
        subscribed = False
        try:
            deadline = asyncio.get_running_loop().time() + self.connect_timeout
            while not subscribed and not task.done() and not self._stop.is_set():
                if client.subs:
                    subscribed = True
                    self._failures = 0
                    log.info(
                        "Polygon %s websocket subscribed: %s", self.market, ", ".join(self.topics)
                    )
                    self.events.put(Connected(self.market, reconnect))
                    break
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.02)
            if subscribed:
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            elif not task.done() and not self._stop.is_set():
                await self._diagnose()
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            if client.websocket is not None:
                try:
                    await asyncio.wait_for(client.close(), timeout=1.0)
                except Exception as exc:
                    log.debug("Polygon %s websocket close: %r", self.market, exc)
        if task.done() and not task.cancelled():
            ended = task.exception()
            if isinstance(ended, AuthError):
                raise ended
            if ended is not None:
                log.debug("Polygon %s websocket ended: %r", self.market, ended)

    async def _diagnose(self) -> None:
        """The client could not connect in time: find out whether the server refused the
        upgrade for the plan (HTTP 401/403), which no retry will cure."""
        from massive.exceptions import AuthError
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            async with connect(self.settings.market_url(self.market), open_timeout=5):
                return
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthError(f"the websocket upgrade was refused with HTTP {status}") from None
        except Exception as exc:
            log.warning("Polygon %s websocket unreachable: %s", self.market, exc)

    async def _process(self, messages: list) -> None:
        bars = [bar for bar in (self._to_bar(m) for m in messages) if bar is not None]
        if bars:
            self.events.put(bars)

    def _to_bar(self, msg) -> Bar | None:
        name = getattr(msg, "symbol", None) or getattr(msg, "pair", None)
        user = self._users.get(name or "")
        if user is None or msg.start_timestamp is None:
            return None
        return agg_bar(user, msg.start_timestamp, msg)


@cache
def _client_class() -> Any:
    """The Massive client, with the websockets library's frame log kept off: at DEBUG it
    would print the auth frame, which carries the API key. Built on first use, so that
    importing this module does not import ``massive``."""
    from massive import WebSocketClient

    class _Client(WebSocketClient):
        async def connect(self, processor, close_timeout: int = 1, **kwargs):  # type: ignore[override]
            return await super().connect(processor, close_timeout, logger=_FRAMES, **kwargs)

    return _Client


_FRAMES = logging.getLogger("stratequeue_polygon.websocket_frames")
_FRAMES.setLevel(logging.INFO)
