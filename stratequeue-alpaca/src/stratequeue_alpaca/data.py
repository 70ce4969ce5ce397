"""The ``alpaca`` data source: stocks (IEX feed by default) and crypto.

History comes from the bars endpoints (alpaca-py pages through ``next_page_token``); live bars
from the msgpack market-data streams, which send each minute bar once it has closed. Longer
granularities are folded from minute bars. Every bar passes a :class:`BarFilter`, shared by
history and stream, so no strategy sees a bar twice, out of order, unfinished or broken.

Options (``DataSourceConfig.options``): ``feed`` (``iex``, or ``sip`` with a paid plan),
``timeout`` (seconds per HTTP request, 10), ``retry_attempts`` (4), ``retry_backoff`` (0.5 s).
Environment: ``PAPER_KEY``/``PAPER_SECRET`` or ``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``;
``ALPACA_DATA_URL`` and ``ALPACA_DATA_STREAM_URL`` override the endpoints.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from stratequeue.data.base import BarFilter, BaseDataSource, DataSourceConfig
from stratequeue.errors import DataSourceError
from stratequeue.models import Bar

from . import credentials
from .aggregate import BarAggregator
from .symbols import is_crypto, pair

__all__ = ["AlpacaDataSource"]

log = logging.getLogger(__name__)

STREAM_URL = "wss://stream.data.alpaca.markets"


class AlpacaDataSource(BaseDataSource):
    name: ClassVar[str] = "alpaca"
    display_name: ClassVar[str] = "Alpaca market data"
    granularities: ClassVar[tuple[str, ...]] = ("1m", "5m", "15m", "30m", "1h")

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
        self._streams: list[tuple[Any, threading.Thread]] = []

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

    def _timeframe(self) -> Any:
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        g = self.granularity
        if g.unit == "h":
            return TimeFrame(g.multiplier, TimeFrameUnit.Hour)
        return TimeFrame(g.seconds // 60, TimeFrameUnit.Minute)

    def history(self, symbol: str, bars: int) -> list[Bar]:
        """The last ``bars`` closed bars (fewer when Alpaca has fewer), oldest first."""
        from alpaca.common.enums import Sort
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest

        from .http import Retrier, api_message

        crypto = is_crypto(symbol)
        now = datetime.now(UTC)
        # Wide enough for nights, weekends and holidays; the limit keeps the answer small.
        start = now - max(self.granularity.timedelta * bars * 4, timedelta(days=7))
        fields: dict[str, Any] = {
            "symbol_or_symbols": pair(symbol),
            "timeframe": self._timeframe(),
            "start": start,
            "end": now,
            "limit": bars + 1,
            "sort": Sort.DESC,
        }
        client = self._client(crypto)
        retrier = Retrier(self._attempts, self._backoff)
        try:
            if crypto:
                result = retrier.call(
                    "crypto bars", lambda: client.get_crypto_bars(CryptoBarsRequest(**fields))
                )
            else:
                request = StockBarsRequest(feed=DataFeed(self._feed), **fields)
                result = retrier.call("stock bars", lambda: client.get_stock_bars(request))
        except Exception as exc:
            raise DataSourceError(f"Alpaca bars for {symbol} failed: {api_message(exc)}") from None
        rows = sorted(result.data.get(pair(symbol), []), key=lambda b: b.timestamp)
        out = [
            Bar(
                symbol, b.timestamp.astimezone(UTC), b.open, b.high, b.low, b.close, float(b.volume)
            )
            for b in rows
            if b.timestamp + self.granularity.timedelta <= now  # closed bars only
        ]
        return list(self._filter.filter(out[-bars:] if bars > 0 else []))

    # -- live bars ------------------------------------------------------------------------------
    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        """Closed bars of ``symbols`` as they complete, until :meth:`stop`."""
        from alpaca.data.enums import CryptoFeed, DataFeed
        from alpaca.data.live import CryptoDataStream, StockDataStream

        from .redact import hide_outgoing_frames

        hide_outgoing_frames()
        key, secret = self._require_keys("live data")
        spelling = {pair(s): s for s in symbols}
        stocks = [pair(s) for s in symbols if not is_crypto(s)]
        coins = [pair(s) for s in symbols if is_crypto(s)]
        minutes: queue.Queue[Bar] = queue.Queue()

        async def on_bar(bar: Any) -> None:
            ts = bar.timestamp.astimezone(UTC)
            minutes.put(
                Bar(
                    spelling.get(bar.symbol, bar.symbol),
                    ts,
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    float(bar.volume),
                )
            )

        if stocks:
            stock_stream = StockDataStream(
                key,
                secret,
                feed=DataFeed(self._feed),
                url_override=f"{self._stream_base}/v2/{self._feed}",
            )
            stock_stream.subscribe_bars(on_bar, *stocks)
            self._run(stock_stream, "alpaca-stock-bars")
        if coins:
            crypto_stream = CryptoDataStream(
                key,
                secret,
                feed=CryptoFeed.US,
                url_override=f"{self._stream_base}/v1beta3/crypto/us",
            )
            crypto_stream.subscribe_bars(on_bar, *coins)
            self._run(crypto_stream, "alpaca-crypto-bars")
        aggregator = BarAggregator(self.granularity)
        try:
            while not self.stopped:
                try:
                    minute = minutes.get(timeout=0.2)
                except queue.Empty:
                    continue
                for bar in aggregator.add(minute):
                    if self._filter.accept(bar):
                        yield bar
        finally:
            self._stop_streams()

    def _run(self, stream: Any, name: str) -> None:
        stream._reconnect_min_backoff = min(1.0, max(self._backoff, 0.05))
        thread = threading.Thread(target=stream.run, name=name, daemon=True)
        thread.start()
        self._streams.append((stream, thread))

    def _stop_streams(self) -> None:
        streams, self._streams = self._streams, []
        for stream, thread in streams:
            loop = stream._loop
            if loop is not None and loop.is_running():
                try:
                    import asyncio  # only when a live stream runs: keeps plugin loading light

                    asyncio.run_coroutine_threadsafe(stream.stop_ws(), loop).result(5)
                    # closing the socket ends the SDK's 5-s receive wait at once
                    asyncio.run_coroutine_threadsafe(stream.close(), loop).result(5)
                except Exception:
                    log.debug("market-data stream already stopped", exc_info=True)
            thread.join(5)

    def close(self) -> None:
        super().close()
        self._stop_streams()
