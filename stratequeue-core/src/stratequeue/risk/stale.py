"""Stale feeds: a symbol without a bar for N granularity periods pauses its trading."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

__all__ = ["StaleFeed"]


class StaleFeed:
    """Tracks each symbol's last bar; ``stale(now)`` names symbols silent for too long.

    A symbol is stale when ``now - last bar > periods * granularity``; it is fresh again as soon
    as ``on_bar`` sees it. ``expect`` starts the clock for symbols that have not sent a bar yet.
    """

    def __init__(self, granularity_seconds: float, periods: int = 3) -> None:
        if granularity_seconds <= 0 or periods < 1:
            raise ValueError("granularity_seconds must be > 0 and periods >= 1")
        self.window = timedelta(seconds=granularity_seconds * periods)
        self._last: dict[str, datetime] = {}

    def expect(self, symbols: Iterable[str], now: datetime) -> None:
        """Symbols that should send bars from ``now`` on (kept if already seen)."""
        for symbol in symbols:
            self._last.setdefault(symbol, now)

    def on_bar(self, symbol: str, ts: datetime) -> None:
        last = self._last.get(symbol)
        if last is None or ts > last:
            self._last[symbol] = ts

    def stale(self, now: datetime) -> set[str]:
        return {s for s, last in self._last.items() if now - last > self.window}
