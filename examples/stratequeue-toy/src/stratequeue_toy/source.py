"""``--data-source toy``: the Toy Exchange's minute bars.

History comes from ``GET /v1/bars?symbol=&limit=``; live bars from polling
``GET /v1/bars?symbol=&after=`` once a second. The live-bar toolkit
(:mod:`stratequeue.data.live`) does the rest: :class:`~stratequeue.data.live.BarFilter`
delivers each bar once and in order (a bar polled twice, or out of order, is dropped and
logged), :class:`~stratequeue.data.live.Retry` retries the exchange's 429 and 5xx answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from stratequeue.data.base import BaseDataSource, DataSourceConfig
from stratequeue.data.live import BarFilter, Retry, env_key, env_url, num
from stratequeue.models import Bar

from .client import ToyClient

__all__ = ["ToySource"]


class ToySource(BaseDataSource):
    """Minute bars from the Toy Exchange at ``TOY_URL`` with the key ``TOY_API_KEY``.

    Options: ``poll`` (seconds between polls, default 1.0), ``clock`` (the core's, for tests).
    """

    name = "toy"
    display_name = "Toy Exchange"
    granularities = ("1m",)
    env_vars = ("TOY_API_KEY",)

    def __init__(self, config: DataSourceConfig) -> None:
        """Raises:
        UsageError: a granularity other than 1m.
        DataSourceError: no ``TOY_API_KEY``, or a ``TOY_URL`` that is not http(s).
        """
        super().__init__(config)
        key = env_key(config.env, "TOY_API_KEY", "toy", "a key from your Toy Exchange")
        url = env_url(
            config.env,
            "TOY_URL",
            "http://127.0.0.1:8765",
            ("http", "https"),
            "http://127.0.0.1:8765",
        )
        self.client = ToyClient(url, key)
        self.filter = BarFilter(self.granularity, clock=self._clock)
        self.retry = Retry(attempts=4, backoff=0.5, wait=self._stop.wait)
        self.poll = float(config.options.get("poll", 1.0))  # type: ignore[arg-type]

    @classmethod
    def setup_instructions(cls) -> str:
        return "Set TOY_API_KEY (and TOY_URL) in .env; `stratequeue toy-exchange` serves a fake."

    def _bars(self, symbol: str, **query: Any) -> list[Bar]:
        rows = self.retry.call(
            f"toy bars {symbol}",
            lambda: self.client.request("GET", "/v1/bars", symbol=symbol, **query),
        )
        return [
            Bar(
                symbol,
                datetime.fromisoformat(r["t"]),
                num(r["o"]),
                num(r["h"]),
                num(r["l"]),
                num(r["c"]),
                num(r["v"]),
            )
            for r in rows or []
        ]

    def history(self, symbol: str, bars: int) -> list[Bar]:
        """The last ``bars`` closed minute bars of ``symbol``, oldest first."""
        return list(self.filter.filter(self._bars(symbol, limit=bars)))

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        """Each new closed bar of ``symbols`` once, in time order, until :meth:`stop`."""
        last: dict[str, datetime | None] = {s: None for s in symbols}
        while not self.stopped:
            for symbol in symbols:
                after = last[symbol]
                got = self._bars(
                    symbol, **({"after": after.isoformat()} if after else {"limit": 1})
                )
                for bar in self.filter.filter(got):
                    last[symbol] = bar.timestamp
                    yield bar
            self._stop.wait(self.poll)
