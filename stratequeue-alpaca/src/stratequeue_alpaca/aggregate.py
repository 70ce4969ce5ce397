"""Minute bars into longer bars (Alpaca streams only 1-minute bars)."""

from __future__ import annotations

from datetime import timedelta

from stratequeue.granularity import Granularity
from stratequeue.models import Bar

__all__ = ["BarAggregator"]

_MINUTE = timedelta(minutes=1)


class BarAggregator:
    """Folds closed minute bars into closed ``granularity`` bars, per symbol.

    A bar is complete when its last minute arrives, or when a minute of a later bar does
    (IEX data is sparse: a quiet minute has no bar).
    """

    def __init__(self, granularity: Granularity) -> None:
        self.granularity = granularity
        self._open: dict[str, Bar] = {}

    def add(self, minute: Bar) -> list[Bar]:
        if self.granularity.seconds <= 60:
            return [minute]
        done: list[Bar] = []
        start = self.granularity.floor(minute.timestamp)
        current = self._open.pop(minute.symbol, None)
        if current is not None and current.timestamp != start:
            done.append(current)
            current = None
        if current is None:
            merged = Bar(
                minute.symbol,
                start,
                minute.open,
                minute.high,
                minute.low,
                minute.close,
                minute.volume,
            )
        else:
            merged = Bar(
                minute.symbol,
                start,
                current.open,
                max(current.high, minute.high),
                min(current.low, minute.low),
                minute.close,
                current.volume + minute.volume,
            )
        if minute.timestamp + _MINUTE >= start + self.granularity.timedelta:
            done.append(merged)
        else:
            self._open[minute.symbol] = merged
        return done
