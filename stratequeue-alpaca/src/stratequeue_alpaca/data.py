"""The ``alpaca`` data source: stocks (IEX feed by default) and crypto.

History comes from the bars endpoints (alpaca-py pages through ``next_page_token``); live bars
from the msgpack market-data streams, which send each minute bar once it has closed. Longer
granularities, ``1d`` included, are folded from minute bars by the core toolkit's
:class:`BarFolder`: a period closes when its last minute arrives or, as IEX data is sparse,
when a minute of a later period does (a daily bar therefore arrives with the next day's first
minute). Daily bars run midnight to midnight New York for stocks and Chicago for crypto, as
Alpaca's own daily bars do. When a stream reconnects, the minutes missed meanwhile are
fetched from history (:func:`backfill`). One :class:`BarFilter`, shared by history, stream and
backfill, lets no strategy see a bar twice, out of order, unfinished or broken.

Options (``DataSourceConfig.options``): ``feed`` (``iex``, or ``sip`` with a paid plan),
``timeout`` (seconds per HTTP request, 10), ``retry_attempts`` (4), ``retry_backoff`` (0.5 s).
Environment: ``PAPER_KEY``/``PAPER_SECRET`` or ``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``;
``ALPACA_DATA_URL`` and ``ALPACA_DATA_STREAM_URL`` override the endpoints.
"""

from __future__ import annotations

import functools
import logging
import queue
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from stratequeue.data.base import BaseDataSource, DataSourceConfig
from stratequeue.data.live import BarFilter, BarFolder, BarGrid, TransientError, backfill, utcnow
from stratequeue.errors import DataSourceError
from stratequeue.granularity import Granularity
from stratequeue.models import Bar

from . import credentials
from .symbols import is_crypto, pair

__all__ = ["AlpacaDataSource"]

log = logging.getLogger(__name__)

STREAM_URL = "wss://stream.data.alpaca.markets"
_MINUTE = Granularity(1, "m")
#: Where Alpaca's daily bars start: midnight New York for stocks, midnight Chicago for crypto.
_DAY_ZONES = {False: ZoneInfo("America/New_York"), True: ZoneInfo("America/Chicago")}


@dataclass(frozen=True)
class _Reconnected:
    """Queued by a stream that subscribed again after a drop: backfill ``symbols``."""

    symbols: list[str]


class AlpacaDataSource(BaseDataSource):
    name: ClassVar[str] = "alpaca"
    display_name: ClassVar[str] = "Alpaca market data"
    granularities: ClassVar[tuple[str, ...]] = ("1m", "5m", "15m", "30m", "1h", "1d")

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        self._keys = credentials.data_credentials(config.env)
        self._data_url = (config.env.get("ALPACA_DATA_URL") or "").rstrip("/") or None
        self._stream_base = (config.env.get("ALPACA_DATA_STREAM_URL") or STREAM_URL).rstrip("/")
        self._feed = str(config.options.get("feed", "iex"))
        self._timeout = float(config.options.get("timeout", 10.0))  # type: ignore[arg-type]
        self._attempts = int(config.options.get("retry_attempts", 4))  # type: ignore[call-overload]
        self._backoff = float(config.options.get("retry_backoff", 0.5))  # type: ignore[arg-type]
        self._filter = BarFilter(config.granularity)
        self._clients: dict[str, Any] = {}
        self._streams: Any = None  # MarketStreams while stream() runs

    @classmethod
    def missing_env(cls, env: Mapping[str, str]) -> list[str]:
        if credentials.data_credentials(env):
            return []
        return ["ALPACA_API_KEY", "ALPACA_SECRET_KEY"]

    @classmethod
    def setup_instructions(cls) -> str:
        return (
            "Alpaca market data uses your Alpaca keys (any account, paper included):\n"
            "  export PAPER_KEY=<key id>  PAPER_SECRET=<secret>\n"
            "  (or ALPACA_API_KEY and ALPACA_SECRET_KEY). Stocks come from the free IEX feed;\n"
            "  crypto needs no plan. Get keys at https://alpaca.markets (dashboard -> API Keys)."
        )

    def _require_keys(self, what: str) -> tuple[str, str]:
        if self._keys is None:
            raise DataSourceError(
                f"Alpaca {what} needs keys: set PAPER_KEY and PAPER_SECRET (or ALPACA_API_KEY "
                "and ALPACA_SECRET_KEY). See: stratequeue --data-setup alpaca"
            )
        return self._keys

    # -- history ------------------------------------------------------------------------------
    def _client(self, crypto: bool) -> Any:
        kind = "crypto" if crypto else "stock"
        if kind not in self._clients:
            from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient

            from .http import harden

            client: Any
            if crypto:
                key, secret = self._keys or (None, None)
                client = CryptoHistoricalDataClient(key, secret, url_override=self._data_url)
            else:
                key, secret = self._require_keys("stock data")
                client = StockHistoricalDataClient(key, secret, url_override=self._data_url)
            self._clients[kind] = harden(client, self._timeout)
        return self._clients[kind]

    def _grid(self, symbol: str, granularity: Granularity | None = None) -> BarGrid:
        return BarGrid(granularity or self.granularity, _DAY_ZONES[is_crypto(symbol)])

    def history(self, symbol: str, bars: int) -> list[Bar]:
        """The last ``bars`` closed bars (fewer when Alpaca has fewer), oldest first."""
        now = utcnow()
        # Wide enough for nights, weekends and holidays; the limit keeps the answer small.
        start = now - max(self.granularity.timedelta * bars * 4, timedelta(days=7))
        try:
            got = self._bars(symbol, self.granularity, start, now, newest=bars + 1)
        except TransientError as exc:
            raise DataSourceError(f"Alpaca bars for {symbol} failed: {exc}") from None
        grid = self._grid(symbol)
        closed = [b for b in got if grid.end(b.timestamp) <= now]
        return list(self._filter.filter(closed[-bars:] if bars > 0 else []))

    def _minutes(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """Minute bars of ``symbol`` starting in ``[start, end]``: the backfill's history."""
        return self._bars(symbol, _MINUTE, start, end)

    def _bars(
        self,
        symbol: str,
        granularity: Granularity,
        start: datetime,
        end: datetime,
        newest: int | None = None,
    ) -> list[Bar]:
        """Bars from the bars endpoint, oldest first; with ``newest``, only that many of the
        latest. A failure that may pass is a :class:`TransientError`, any other a
        :class:`DataSourceError` (transient ones are retried first)."""
        from alpaca.common.enums import Sort
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest

        from .http import Retrier, api_message, is_transient

        crypto = is_crypto(symbol)
        fields: dict[str, Any] = {
            "symbol_or_symbols": pair(symbol),
            "timeframe": _timeframe(granularity),
            "start": start,
            "end": end,
            "limit": newest,
            "sort": Sort.DESC if newest else Sort.ASC,
        }
        client = self._client(crypto)
        retrier = Retrier(self._attempts, self._backoff)
        try:
            if crypto:
                request: Any = CryptoBarsRequest(**fields)
                result = retrier.call("Alpaca crypto bars", lambda: client.get_crypto_bars(request))
            else:
                request = StockBarsRequest(feed=DataFeed(self._feed), **fields)
                result = retrier.call("Alpaca stock bars", lambda: client.get_stock_bars(request))
        except Exception as exc:
            if is_transient(exc):
                raise TransientError(api_message(exc)) from None
            raise DataSourceError(f"Alpaca bars for {symbol} failed: {api_message(exc)}") from None
        rows = sorted(result.data.get(pair(symbol), []), key=lambda b: b.timestamp)
        return [
            Bar(
                symbol, b.timestamp.astimezone(UTC), b.open, b.high, b.low, b.close, float(b.volume)
            )
            for b in rows
        ]

    # -- live bars ------------------------------------------------------------------------------
    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        """Closed bars of ``symbols`` as they complete, until :meth:`stop`."""
        from .market_stream import MarketStreams
        from .redact import hide_outgoing_frames

        hide_outgoing_frames()
        key, secret = self._require_keys("live data")
        spelling = {pair(s): s for s in symbols}
        events: queue.Queue[Bar | _Reconnected] = queue.Queue()

        async def on_bar(bar: Any) -> None:
            ts = bar.timestamp.astimezone(UTC)
            user = spelling.get(bar.symbol, bar.symbol)
            events.put(Bar(user, ts, bar.open, bar.high, bar.low, bar.close, float(bar.volume)))

        self._streams = MarketStreams(key, secret, min(1.0, max(self._backoff, 0.05)))
        for crypto in (False, True):
            members = [s for s in symbols if is_crypto(s) == crypto]
            if not members:
                continue
            path = "v1beta3/crypto/us" if crypto else f"v2/{self._feed}"
            self._streams.start(
                crypto,
                f"{self._stream_base}/{path}",
                [pair(s) for s in members],
                on_bar,
                functools.partial(events.put, _Reconnected(members)),
                feed=self._feed,
            )
        folder = BarFolder(
            {s: self._grid(s) for s in symbols},
            _MINUTE.timedelta,
            self._filter,
            sparse=True,
            logger=log,
        )
        try:
            while not self.stopped:
                try:
                    event = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(event, _Reconnected):
                    yield from backfill(folder, self._minutes, event.symbols, utcnow())
                else:
                    yield from folder.add(event)
        finally:
            self._stop_streams()

    def _stop_streams(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams.stop()

    def close(self) -> None:
        super().close()
        self._stop_streams()


def _timeframe(granularity: Granularity) -> Any:
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    unit = {"m": TimeFrameUnit.Minute, "h": TimeFrameUnit.Hour, "d": TimeFrameUnit.Day}
    return TimeFrame(granularity.multiplier, unit[granularity.unit])
