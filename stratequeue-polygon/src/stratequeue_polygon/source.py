"""The ``polygon`` data source: REST history, websocket live bars, REST polling fallback."""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from stratequeue.data.base import BaseDataSource, DataSourceConfig
from stratequeue.data.live import Backoff, BarFilter, BarFolder, TransientError, backfill
from stratequeue.errors import DataSourceError
from stratequeue.models import Bar

from .events import Connected, NoWebsocket
from .periods import grid_for, sub_granularity
from .rest import RestAggregates
from .settings import SETUP_TEXT, PolygonSettings
from .symbols import PolygonSymbol, to_polygon

if TYPE_CHECKING:
    from .live import WebsocketFeed

__all__ = ["PolygonDataSource"]

log = logging.getLogger(__name__)


class PolygonDataSource(BaseDataSource):
    """Polygon.io (Massive) aggregates.

    Options (``DataSourceConfig.options``): ``rest_requests_per_minute`` (REST budget when
    polling; default 5, the free plan), ``close_grace_seconds`` (how long after a period ends
    a bar with no final sub-bar is closed; default 5), ``poll_delay_seconds`` (default 2),
    ``reconnect_delay_seconds`` / ``reconnect_max_seconds`` (backoff, default 1 and 60),
    ``connect_timeout_seconds`` (default 10), ``http_timeout_seconds`` (default 10),
    ``websocket`` (False to poll REST only) and ``clock`` (a callable returning aware UTC
    time, for tests).
    """

    name: ClassVar[str] = "polygon"
    display_name: ClassVar[str] = "Polygon.io (Massive)"
    granularities: ClassVar[tuple[str, ...]] = ("1s", "1m", "5m", "15m", "1h", "1d")
    env_vars: ClassVar[tuple[str, ...]] = ("POLYGON_API_KEY",)

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        self.settings = PolygonSettings.from_env(config.env)
        opts = config.options
        self._rpm = max(1, int(opts.get("rest_requests_per_minute", 5)))  # type: ignore[call-overload]
        self._grace = timedelta(seconds=float(opts.get("close_grace_seconds", 5)))  # type: ignore[arg-type]
        self._poll_delay = timedelta(seconds=float(opts.get("poll_delay_seconds", 2)))  # type: ignore[arg-type]
        self._backoff_first = float(opts.get("reconnect_delay_seconds", 1))  # type: ignore[arg-type]
        self._backoff_cap = float(opts.get("reconnect_max_seconds", 60))  # type: ignore[arg-type]
        self._connect_timeout = float(opts.get("connect_timeout_seconds", 10))  # type: ignore[arg-type]
        self._use_websocket = bool(opts.get("websocket", True))
        self.rest = RestAggregates(
            self.settings,
            timeout=float(opts.get("http_timeout_seconds", 10)),  # type: ignore[arg-type]
        )
        self.sub = sub_granularity(self.granularity)
        self.filter = BarFilter(self.granularity, clock=self._clock)
        self._feeds: list[WebsocketFeed] = []
        self._said_polling = False

    @classmethod
    def setup_instructions(cls) -> str:
        return SETUP_TEXT

    # -- history -------------------------------------------------------------------------

    def history(self, symbol: str, bars: int) -> list[Bar]:
        sym = to_polygon(symbol)
        now = self._clock()
        current = grid_for(self.granularity, sym.market).start(now)
        try:
            got = self.rest.fetch(
                sym,
                self.granularity,
                now - self._lookback(bars),
                now,
                newest_first=True,
                max_bars=bars + 1,
            )
        except TransientError as exc:
            raise DataSourceError(f"{exc}. Check the network or POLYGON_BASE_URL.") from None
        closed = sorted((b for b in got if b.timestamp < current), key=lambda b: b.timestamp)
        good = list(BarFilter(self.granularity, clock=self._clock).filter(closed))[-bars:]
        if good:
            self.filter.mark(sym.user, good[-1].timestamp)
        return good

    def _lookback(self, bars: int) -> timedelta:
        """A window sure to hold ``bars`` bars despite nights, weekends and holidays."""
        if self.granularity.unit == "d":
            return timedelta(days=2 * bars + 14)
        return self.granularity.timedelta * bars * 4 + timedelta(days=7)

    # -- live ----------------------------------------------------------------------------

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        syms = [to_polygon(s) for s in symbols]
        agg = BarFolder(
            {s.user: grid_for(self.granularity, s.market) for s in syms},
            self.sub.timedelta,
            self.filter,
            logger=log,
        )
        start_time = self._clock()
        for s in syms:
            agg.begin(s.user, start_time)
        events: queue.Queue = queue.Queue()
        markets = sorted({s.market for s in syms})
        polled: dict[str, list[PolygonSymbol]] = {}
        next_poll: dict[str, datetime] = {}
        ws_users = {s.user for s in syms}
        try:
            now = self._clock()
            yield from self._deliver(self._backfill(agg, syms, now, close_at=now - self._grace))
            for market in markets:
                members = [s for s in syms if s.market == market]
                if self._use_websocket:
                    self._start_feed(market, members, events)
                else:
                    self._start_polling(market, members, polled, next_poll, ws_users, None)
            while not self.stopped:
                try:
                    event = events.get(timeout=0.05)
                except queue.Empty:
                    event = None
                out: list[Bar] = []
                if isinstance(event, list):
                    now = self._clock()
                    for bar in event:
                        out.extend(agg.add(bar, now))
                elif isinstance(event, Connected) and event.reconnect:
                    members = [s for s in syms if s.market == event.market]
                    now = self._clock()
                    out.extend(self._backfill(agg, members, now, close_at=now - self._grace))
                elif isinstance(event, NoWebsocket):
                    members = [s for s in syms if s.market == event.market]
                    self._start_polling(event.market, members, polled, next_poll, ws_users, event)
                now = self._clock()
                for market, members in polled.items():
                    if now >= next_poll[market]:
                        close_at = now - self._poll_delay
                        out.extend(self._backfill(agg, members, now, close_at=close_at))
                        next_poll[market] = self._next_poll(members, now)
                if ws_users:
                    out.extend(agg.close_through(now - self._grace, ws_users))
                yield from self._deliver(out)
        finally:
            self._stop_feeds()

    def close(self) -> None:
        super().close()
        self._stop_feeds()

    def _deliver(self, bars: list[Bar]) -> Iterator[Bar]:
        for bar in sorted(bars, key=lambda b: (b.timestamp, b.symbol)):
            if self.stopped:
                return
            yield bar

    def _start_feed(self, market: str, members: list[PolygonSymbol], events: queue.Queue) -> None:
        from .live import WebsocketFeed  # imports asyncio; massive/websockets when it runs

        feed = WebsocketFeed(
            self.settings,
            market,
            members,
            per_second=self.sub.unit == "s",
            events=events,
            backoff=Backoff(first=self._backoff_first, cap=self._backoff_cap),
            connect_timeout=self._connect_timeout,
        )
        self._feeds.append(feed)
        feed.start()

    def _stop_feeds(self) -> None:
        feeds, self._feeds = self._feeds, []
        for feed in feeds:
            feed.stop()

    def _start_polling(
        self,
        market: str,
        members: list[PolygonSymbol],
        polled: dict[str, list[PolygonSymbol]],
        next_poll: dict[str, datetime],
        ws_users: set[str],
        why: NoWebsocket | None,
    ) -> None:
        polled[market] = members
        ws_users.difference_update(s.user for s in members)
        next_poll[market] = self._clock()  # catch up at once, then on schedule
        total = sum(len(m) for m in polled.values())
        interval = 60.0 * total / self._rpm
        if not self._said_polling:
            self._said_polling = True
            reason = (
                f"this key's plan has no websocket access ({why.reason})"
                if why
                else "websocket disabled"
            )
            log.warning(
                "Polygon: %s; polling REST aggregates instead, at most every %.0f s "
                "(%d symbol(s) within %d requests/min). Bars arrive shortly after each %s closes.",
                reason,
                interval,
                total,
                self._rpm,
                self.granularity,
            )

    def _next_poll(self, members: list[PolygonSymbol], now: datetime) -> datetime:
        grid = grid_for(self.granularity, members[0].market)
        boundary = grid.end(grid.start(now)) + self._poll_delay
        budget = now + timedelta(seconds=60.0 * len(members) / self._rpm)
        return max(boundary, budget)

    def _backfill(
        self, agg: BarFolder, members: list[PolygonSymbol], now: datetime, *, close_at: datetime
    ) -> list[Bar]:
        """Every closed bar the members are missing, from REST sub-bars (the toolkit's backfill)."""
        by_user = {s.user: s for s in members}

        def history(user: str, start: datetime, end: datetime) -> list[Bar]:
            return self.rest.fetch(by_user[user], self.sub, start, end)

        return backfill(agg, history, list(by_user), now, close_at=close_at)
