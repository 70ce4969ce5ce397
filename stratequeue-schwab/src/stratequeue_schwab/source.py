"""The ``schwab`` data source: price history for warm-up (minute candles folded into 1m to 1h
bars, daily candles for 1d) and live bars from the streamer's ``CHART_EQUITY`` service (one
candle a minute), folded with the core's live-bar toolkit; after a stream drop the missed
minutes are backfilled from price history, each bar once."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from stratequeue.data.base import BaseDataSource, DataSourceConfig
from stratequeue.data.live import BarFilter, BarFolder, BarGrid, Retry, TransientError, backfill
from stratequeue.errors import DataSourceError
from stratequeue.models import Bar

from .config import read_settings
from .redact import mask_schwab_logs, unmask
from .session import open_client
from .token import check_age, read_token, relogin

__all__ = ["SchwabDataSource"]

_NEW_YORK = ZoneInfo("America/New_York")
_MINUTE = timedelta(minutes=1)
_RECONNECTED = "reconnected"


class SchwabDataSource(BaseDataSource):
    name: ClassVar[str] = "schwab"
    display_name: ClassVar[str] = "Charles Schwab"
    granularities: ClassVar[tuple[str, ...]] = ("1m", "5m", "15m", "30m", "1h", "1d")
    env_vars: ClassVar[tuple[str, ...]] = ("SCHWAB_APP_KEY", "SCHWAB_APP_SECRET")

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        options = config.options
        settings = read_settings(config.env)
        token = read_token(settings.token_path)
        check_age(token)
        self.client = open_client(settings, token, _option(options, "timeout", 10.0))
        self._mask = mask_schwab_logs(self._tokens)
        self.filter = BarFilter(self.granularity, clock=self._clock)
        self.retry = Retry(attempts=4, backoff=_option(options, "retry_backoff", 0.5))
        self.reconnect_wait = _option(options, "reconnect_wait", 2.0)
        self.daily = self.granularity.unit == "d"

    @classmethod
    def setup_instructions(cls) -> str:
        return "The Schwab data source uses the Schwab login: see stratequeue --broker-setup schwab"

    def _tokens(self) -> list[str]:
        token = self.client.token_metadata.token
        return [
            str(token[k]) for k in ("access_token", "refresh_token", "id_token") if token.get(k)
        ]

    def close(self) -> None:
        unmask(self._mask)
        self.client.session.close()

    def _grid(self) -> BarGrid:
        return BarGrid(self.granularity, _NEW_YORK)

    # -- price history ------------------------------------------------------------------------
    def _candles(self, symbol: str, start: datetime, end: datetime, daily: bool) -> list[Bar]:
        def call() -> Any:
            get = (
                self.client.get_price_history_every_day
                if daily
                else self.client.get_price_history_every_minute
            )
            resp = get(symbol, start_datetime=start, end_datetime=end)
            if resp.status_code == 401:
                raise relogin("was refused by Schwab (401)")
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TransientError(f"Schwab price history: HTTP {resp.status_code}")
            if resp.is_error:
                raise DataSourceError(f"Schwab price history for {symbol}: HTTP {resp.status_code}")
            return resp.json()

        data = self.retry.call(f"schwab {symbol} history", call)
        return [_bar(symbol, c) for c in data.get("candles") or []]

    def _minutes(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        return [b for b in self._candles(symbol, start, end, False) if b.timestamp + _MINUTE <= end]

    def history(self, symbol: str, bars: int) -> list[Bar]:
        now, grid = self._clock(), self._grid()
        if self.daily:
            got = self._candles(symbol, now - timedelta(days=2 * bars + 7), now, True)
        else:
            span = max(self.granularity.timedelta * bars * 3, timedelta(days=4))
            folder = BarFolder({symbol: grid}, _MINUTE, BarFilter(self.granularity), sparse=True)
            got = []
            for minute in self._minutes(symbol, now - span, now):
                got.extend(folder.add(minute))
            got.extend(folder.close_through(now))
        closed = [b for b in got if grid.end(b.timestamp) <= now][-bars:]
        return list(self.filter.filter(closed))

    # -- live bars ----------------------------------------------------------------------------
    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        grids = {s: self._grid() for s in symbols}
        folder = BarFolder(grids, _MINUTE, self.filter, sparse=True)
        events: queue.Queue[Bar | str] = queue.Queue()
        listener = threading.Thread(
            target=asyncio.run, args=(self._listen(list(symbols), events),), daemon=True
        )
        listener.start()
        first = True
        while not self.stopped:
            try:
                event = events.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(event, str):
                if first:
                    first = False
                    continue
                yield from backfill(folder, self._minutes, list(symbols), self._clock())
            else:
                yield from folder.add(event, self._clock())
        listener.join(5)

    async def _listen(self, symbols: list[str], events: queue.Queue[Bar | str]) -> None:
        from schwab.streaming import StreamClient

        while not self.stopped:
            stream = StreamClient(self.client)
            try:
                await stream.login()
                stream.add_chart_equity_handler(lambda msg: _chart(msg, events))
                await stream.chart_equity_subs(symbols)
                events.put(_RECONNECTED)
                while not self.stopped:
                    try:
                        await asyncio.wait_for(stream.handle_message(), 0.2)
                    except TimeoutError:
                        continue
            except Exception:  # a drop: log in again, then backfill what was missed
                await asyncio.sleep(self.reconnect_wait)
            finally:
                socket = getattr(stream, "_socket", None)
                if socket is not None:
                    await socket.close()


def _option(options: Any, key: str, default: float) -> float:
    value = options.get(key, default)
    return float(value) if isinstance(value, int | float | str) else default


def _bar(symbol: str, candle: dict[str, Any]) -> Bar:
    return Bar(
        symbol,
        datetime.fromtimestamp(candle["datetime"] / 1000, UTC),
        float(candle["open"]),
        float(candle["high"]),
        float(candle["low"]),
        float(candle["close"]),
        float(candle["volume"]),
    )


def _chart(message: dict[str, Any], events: queue.Queue[Bar | str]) -> None:
    for c in message.get("content", []):
        events.put(
            Bar(
                c["key"],
                datetime.fromtimestamp(int(c["CHART_TIME_MILLIS"]) / 1000, UTC),
                float(c["OPEN_PRICE"]),
                float(c["HIGH_PRICE"]),
                float(c["LOW_PRICE"]),
                float(c["CLOSE_PRICE"]),
                float(c["VOLUME"]),
            )
        )
