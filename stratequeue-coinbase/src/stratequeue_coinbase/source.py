"""The ``coinbase`` data source: Coinbase's public market data, no key needed.

- History: public candles (1m, 5m, 15m, 1h, 1d), asked for in windows of 300 candles going
  back from now, only closed candles kept.
- Live: trades from the public ``market_trades`` WebSocket channel folded into bars with the
  core's live-bar toolkit; a bar is delivered once its period has ended (plus ``grace_seconds``,
  default 2, for late trades). A period without trades gives no bar.

Options: ``grace_seconds``, ``clock`` (tests). Environment: ``COINBASE_BASE_URL``,
``COINBASE_WS_URL`` and ``COINBASE_CA_FILE`` point it at a fake.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from stratequeue.data.base import BaseDataSource, DataSourceConfig
from stratequeue.data.live import Backoff, BarFilter, BarFolder, BarGrid, trade_bar
from stratequeue.models import Bar

from .client import CoinbaseClient, Feed, Refused, Transient
from .config import settings_from
from .orders import parse_time
from .products import product_id, said_once

__all__ = ["WINDOW", "CoinbaseDataSource"]

log = logging.getLogger(__name__)

#: candles per history request (Coinbase answers at most 350)
WINDOW = 300
_NAMES = {
    "1m": "ONE_MINUTE",
    "5m": "FIVE_MINUTE",
    "15m": "FIFTEEN_MINUTE",
    "1h": "ONE_HOUR",
    "1d": "ONE_DAY",
}


class CoinbaseDataSource(BaseDataSource):
    name = "coinbase"
    display_name = "Coinbase"
    granularities = tuple(_NAMES)

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        self.settings = settings_from(config.env, need_key=False)
        ca_file = str(config.env.get("COINBASE_CA_FILE", "")) or None
        self.client = CoinbaseClient(self.settings, ca_file=ca_file, retries=3)
        self.grace = timedelta(seconds=float(str(config.options.get("grace_seconds", 2.0))))
        self.filter = BarFilter(self.granularity, clock=self._clock)
        self.feed: Feed | None = None

    @classmethod
    def setup_instructions(cls) -> str:
        return "Coinbase's market data is public: --data-source coinbase needs no key."

    def close(self) -> None:
        super().close()
        if self.feed is not None:
            self.feed.stop()
        self.client.close()

    # -- history ----------------------------------------------------------------------------
    def history(self, symbol: str, bars: int) -> list[Bar]:
        pid = product_id(symbol)
        said_once(symbol, pid)
        step = int(self.granularity.timedelta.total_seconds())
        now = self._clock()
        last_closed = int(self.granularity.floor(now).timestamp()) - step
        got: dict[int, Bar] = {}
        end = last_closed
        while len(got) < bars and not self.stopped:
            start = end - (WINDOW - 1) * step
            try:
                page = self.client.candles(pid, start, end, _NAMES[str(self.granularity)])
            except (Transient, Refused) as exc:
                log.warning("Coinbase candles for %s unavailable (%s)", pid, exc)
                break
            for row in page:
                bar = _bar(symbol, row)
                if start <= int(bar.timestamp.timestamp()) <= last_closed:
                    got[int(bar.timestamp.timestamp())] = bar
            if not page:
                break
            end = start - step
        ordered = [got[t] for t in sorted(got)][-bars:]
        good = list(BarFilter(self.granularity, clock=self._clock).filter(ordered))
        if good:
            self.filter.mark(symbol, good[-1].timestamp)
        return good

    # -- live -------------------------------------------------------------------------------
    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        products = {product_id(s): s for s in symbols}
        grid = BarGrid(self.granularity, UTC)
        folder = BarFolder({s: grid for s in symbols}, timedelta(0), self.filter, logger=log)
        for symbol in symbols:
            folder.begin(symbol, self._clock())
        trades: queue.Queue[dict[str, Any]] = queue.Queue()
        self.feed = Feed(
            self.settings.ws_url,
            ["market_trades", "heartbeats"],
            list(products),
            trades.put,
            tls=self.client.tls,
            backoff=Backoff(0.5, 30.0),
            name="coinbase-market",
        )
        self.feed.start()
        seen: set[tuple[str, str]] = set()
        last: dict[str, datetime] = {}
        try:
            while not self.stopped:
                try:
                    message = trades.get(timeout=0.05)
                except queue.Empty:
                    message = {}
                out: list[Bar] = []
                now = self._clock()
                for trade in _trades(message):
                    sym = products.get(str(trade.get("product_id", "")))
                    key = (str(trade.get("product_id")), str(trade.get("trade_id")))
                    if sym is None or key in seen:
                        continue
                    seen.add(key)
                    at = parse_time(str(trade["time"]))
                    # trades at the same instant are all kept: the folder keys sub-bars by time
                    if sym in last and at <= last[sym]:
                        at = last[sym] + timedelta(microseconds=1)
                    last[sym] = at
                    sub = trade_bar(sym, at, float(trade["price"]), float(trade["size"]))
                    out.extend(folder.add(sub, now + self.grace))
                out.extend(folder.close_through(now - self.grace))
                yield from sorted(out, key=lambda b: (b.timestamp, b.symbol))
        finally:
            self.feed.stop()


def _trades(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message.get("channel") != "market_trades":
        return []
    out: list[dict[str, Any]] = []
    for event in message.get("events", []):
        out.extend(sorted(event.get("trades", []), key=lambda t: str(t.get("time"))))
    return out


def _bar(symbol: str, row: dict[str, Any]) -> Bar:
    return Bar(
        symbol=symbol,
        timestamp=datetime.fromtimestamp(int(row["start"]), UTC),
        open=float(row["open"]),
        high=float(row["high"]),
        low=float(row["low"]),
        close=float(row["close"]),
        volume=float(row["volume"]),
    )
