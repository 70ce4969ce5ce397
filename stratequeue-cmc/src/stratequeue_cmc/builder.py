"""Bars built from polled quotes.

open = the period's first sample, close = its last, high/low = the extremes of its samples.
CoinMarketCap gives no per-period volume, only a rolling 24-hour volume ``V``. Between the
first and last sample of a period ``V`` changes by (volume traded since) minus (volume that
rolled out of the window, traded 24 h earlier); assuming the rolled-out part traded at the
window's average rate, the period's volume is estimated as
``V_last - V_first + mean(V) * period / 24h``, never below zero. With a single sample the
estimate is ``V * period / 24h``. It is an estimate: use it for filters, not for accounting.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from stratequeue.granularity import Granularity
from stratequeue.models import Bar

from .payloads import Sample

__all__ = ["SampleBarBuilder"]

log = logging.getLogger(__name__)
_DAY = 86400.0


class SampleBarBuilder:
    def __init__(self, granularity: Granularity, users: dict[str, str]) -> None:
        self.granularity = granularity
        self.users = users  # CMC symbol -> symbol as the user wrote it
        self._open: dict[str, dict[datetime, list[Sample]]] = {}
        self._closed: dict[str, datetime] = {}
        self._seen: dict[str, datetime] = {}
        self._skipped: dict[str, datetime] = {}  # the period under way at start

    def start_after(self, symbol: str, period_start: datetime) -> None:
        """Never build the period starting at ``period_start`` or any earlier one."""
        self._closed[symbol] = period_start
        self._skipped[symbol] = period_start

    def add(self, sample: Sample) -> None:
        if sample.symbol in self._seen and sample.time <= self._seen[sample.symbol]:
            return  # the quote has not been updated since the last poll
        if math.isnan(sample.price) or sample.price <= 0:
            log.warning(
                "Dropped %s quote at %s: the price %r is not a positive number",
                sample.symbol,
                sample.time.isoformat(),
                sample.price,
            )
            return
        self._seen[sample.symbol] = sample.time
        start = self.granularity.floor(sample.time)
        closed = self._closed.get(sample.symbol)
        if closed is not None and start <= closed:
            if start == self._skipped.get(sample.symbol):
                log.debug("%s quote in the period the run started in: not used", sample.symbol)
                return
            log.info(
                "Ignored a late %s quote at %s: its %s bar was already delivered",
                sample.symbol,
                sample.time.isoformat(),
                start.isoformat(),
            )
            return
        self._open.setdefault(sample.symbol, {}).setdefault(start, []).append(sample)

    def close_through(self, now: datetime) -> list[Bar]:
        """Every bar whose period ended at or before ``now``, oldest first."""
        out = []
        length = self.granularity.timedelta
        for symbol, periods in self._open.items():
            for start in sorted(periods):
                if start + length <= now:
                    out.append(self._bar(symbol, start, periods.pop(start), length))
                    self._closed[symbol] = start
        return sorted(out, key=lambda b: (b.timestamp, b.symbol))

    def _bar(self, symbol: str, start: datetime, samples: list[Sample], length: timedelta) -> Bar:
        prices = [s.price for s in samples]
        volumes = [s.volume_24h for s in samples if not math.isnan(s.volume_24h)]
        share = length.total_seconds() / _DAY
        if not volumes:
            volume = math.nan
        else:
            mean = sum(volumes) / len(volumes)
            volume = max(0.0, volumes[-1] - volumes[0] + mean * share)
        return Bar(
            symbol=self.users.get(symbol, symbol),
            timestamp=start,
            open=prices[0],
            high=max(prices),
            low=min(prices),
            close=prices[-1],
            volume=volume,
        )
