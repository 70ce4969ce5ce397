"""The ``demo`` data source: realistic, deterministic bars with no account.

Each symbol's series is a random walk seeded by the symbol's name and the granularity, so the
same symbol always produces the same sequence of prices: stocks start between 100 and 500,
BTC near 60,000, ETH near 3,000. History is available instantly; live bars are emitted in real
time, one per granularity period, when the period closes.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Sequence
from datetime import datetime

from .. import hookimpl
from ..models import Bar
from .base import BaseDataSource, DataSourceConfig

__all__ = ["DemoDataSource", "register_data_sources"]

# Rough starting prices and annual volatilities of well-known crypto assets.
_CRYPTO = {
    "BTC": (60_000.0, 0.65),
    "ETH": (3_000.0, 0.75),
    "SOL": (150.0, 0.95),
    "DOGE": (0.15, 1.1),
    "ADA": (0.45, 0.9),
    "XRP": (0.55, 0.85),
    "LTC": (80.0, 0.8),
}
_YEAR_SECONDS_STOCK = 252 * 6.5 * 3600
_YEAR_SECONDS_CRYPTO = 365 * 24 * 3600.0


def _base_symbol(symbol: str) -> str:
    base = symbol.upper().replace("X:", "").split("/")[0].split("-")[0]
    for quote in ("USDT", "USD"):
        if base.endswith(quote) and base[: -len(quote)] in _CRYPTO:
            return base[: -len(quote)]
    return base


class _Walk:
    """One symbol's deterministic bar generator."""

    def __init__(self, symbol: str, seconds: int) -> None:
        digest = hashlib.sha256(f"{symbol.upper()}|{seconds}".encode()).digest()
        self.rng = random.Random(int.from_bytes(digest[:8], "big"))
        base = _base_symbol(symbol)
        if base in _CRYPTO:
            price, vol = _CRYPTO[base]
            year, self.volume_base = _YEAR_SECONDS_CRYPTO, 2_000_000.0 / max(price, 1e-9)
        else:
            price = 100 + self.rng.random() * 400
            vol = 0.2 + self.rng.random() * 0.3
            year, self.volume_base = _YEAR_SECONDS_STOCK, 5_000_000.0 / 390
        self.price = price
        # Per-bar volatility, scaled from annual; a floor keeps 1s bars from being flat.
        self.sigma = max(vol * math.sqrt(seconds / year), 0.0004)
        self.volume_scale = self.volume_base * max(seconds / 60, 1 / 60)

    def next_bar(self, symbol: str, start: datetime) -> Bar:
        rng = self.rng
        open_ = self.price * math.exp(rng.gauss(0, self.sigma * 0.1))
        close = open_ * math.exp(rng.gauss(0, self.sigma))
        wiggle = abs(rng.gauss(0, self.sigma * 0.5))
        high = max(open_, close) * math.exp(wiggle)
        low = min(open_, close) * math.exp(-abs(rng.gauss(0, self.sigma * 0.5)))
        volume = round(self.volume_scale * math.exp(rng.gauss(0, 0.5)), 4)
        self.price = close
        o, h, lo, c = (_round(p) for p in (open_, high, low, close))
        return Bar(symbol, start, o, h, lo, c, volume)


def _round(price: float) -> float:
    digits = 2 if price >= 1 else 6
    return round(price, digits)


class DemoDataSource(BaseDataSource):
    name = "demo"
    display_name = "Demo (simulated)"
    simulated = True

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        self._walks: dict[str, _Walk] = {}
        self._next_start: dict[str, datetime] = {}

    def _walk(self, symbol: str) -> _Walk:
        if symbol not in self._walks:
            self._walks[symbol] = _Walk(symbol, self.granularity.seconds)
        return self._walks[symbol]

    def history(self, symbol: str, bars: int) -> list[Bar]:
        step = self.granularity.timedelta
        current = self.granularity.floor(self._clock())  # the bar still forming
        start = current - step * bars
        walk = self._walk(symbol)
        out = [walk.next_bar(symbol, start + step * k) for k in range(bars)]
        self._next_start[symbol] = current
        return out

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        step = self.granularity.timedelta
        now = self._clock()
        for symbol in symbols:
            self._next_start.setdefault(symbol, self.granularity.floor(now))
        while not self.stopped:
            due = min(self._next_start[s] for s in symbols) + step
            wait = (due - self._clock()).total_seconds()
            if wait > 0 and self._stop.wait(wait):
                return
            for symbol in symbols:
                if self._next_start[symbol] + step <= self._clock():
                    bar = self._walk(symbol).next_bar(symbol, self._next_start[symbol])
                    self._next_start[symbol] += step
                    yield bar


@hookimpl
def register_data_sources(register):  # type: ignore[no-untyped-def]
    register("demo", DemoDataSource)
