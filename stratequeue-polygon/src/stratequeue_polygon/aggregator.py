"""Builds closed bars of the chosen granularity from Polygon's per-second or per-minute bars.

A period with no trades has no sub-bars and so produces no bar: it is skipped, never
filled with NaN or a copy of the previous close. Sub-bars are kept by start time, so the
same sub-bar arriving twice (websocket and REST backfill) counts once; a sub-bar for a
period that was already emitted is a late revision and is ignored (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from stratequeue.models import Bar

from .periods import Periods

__all__ = ["BarAggregator"]

log = logging.getLogger(__name__)


class BarAggregator:
    def __init__(self, periods: Mapping[str, Periods], sub_length: timedelta) -> None:
        self.periods = dict(periods)
        self.sub_length = sub_length
        self._open: dict[str, dict[datetime, dict[datetime, Bar]]] = {}
        self._emitted: dict[str, datetime] = {}  # start of the last period emitted per symbol

    def mark_emitted(self, symbol: str, period_start: datetime) -> None:
        """Treat every period up to ``period_start`` of ``symbol`` as already delivered."""
        last = self._emitted.get(symbol)
        if last is None or period_start > last:
            self._emitted[symbol] = period_start

    def begin(self, symbol: str, moment: datetime) -> None:
        """Start ``symbol`` at the period containing ``moment`` unless history already set
        where delivery resumes: older periods are never emitted."""
        if symbol not in self._emitted:
            periods = self.periods[symbol]
            first = periods.start(moment)
            self._emitted[symbol] = periods.start(first - timedelta(microseconds=1))

    def resume_point(self, symbol: str, now: datetime) -> datetime:
        """Where a REST backfill for ``symbol`` must start to complete every unemitted bar."""
        periods = self.periods[symbol]
        open_starts = list(self._open.get(symbol, {}))
        if open_starts:
            return min(open_starts)
        last = self._emitted.get(symbol)
        if last is not None:
            return periods.end(last)
        return periods.start(now)

    def add(self, sub: Bar, now: datetime | None = None) -> list[Bar]:
        """Take one sub-bar; return the bar it completes, if its end closes its period.
        A sub-bar starting after ``now`` is dropped (a clock or feed error)."""
        problem = sub.problem()
        if problem is None and now is not None and sub.timestamp > now:
            problem = f"its time is in the future (now {now.isoformat()})"
        if problem is not None:
            log.warning(
                "Dropped %s update at %s: %s", sub.symbol, sub.timestamp.isoformat(), problem
            )
            return []
        periods = self.periods[sub.symbol]
        start = periods.start(sub.timestamp)
        last = self._emitted.get(sub.symbol)
        if last is not None and start <= last:
            log.info(
                "Ignored a late revision for %s at %s: its %s bar was already delivered",
                sub.symbol,
                sub.timestamp.isoformat(),
                start.isoformat(),
            )
            return []
        bucket = self._open.setdefault(sub.symbol, {}).setdefault(start, {})
        if sub.timestamp in bucket:
            log.debug("Duplicate %s update at %s dropped", sub.symbol, sub.timestamp.isoformat())
            return []
        bucket[sub.timestamp] = sub
        if sub.timestamp + self.sub_length >= periods.end(start):
            return self._close(sub.symbol, start)
        return []

    def close_through(self, moment: datetime, symbols: Iterable[str] | None = None) -> list[Bar]:
        """Close every open period (of ``symbols``, default all) that ended at or before
        ``moment``, oldest first."""
        closed: list[Bar] = []
        wanted = None if symbols is None else set(symbols)
        for symbol, buckets in list(self._open.items()):
            if wanted is not None and symbol not in wanted:
                continue
            periods = self.periods[symbol]
            for start in sorted(buckets):
                if periods.end(start) <= moment:
                    closed.extend(self._close(symbol, start))
        closed.sort(key=lambda b: (b.timestamp, b.symbol))
        return closed

    def _close(self, symbol: str, start: datetime) -> list[Bar]:
        """Emit ``start``'s period of ``symbol`` and any older one still open."""
        buckets = self._open.get(symbol, {})
        out = []
        for s in sorted(x for x in buckets if x <= start):
            bar = _combine(symbol, s, buckets.pop(s))
            if bar is not None:
                out.append(bar)
            self.mark_emitted(symbol, s)
        return out


def _combine(symbol: str, start: datetime, subs: Mapping[datetime, Bar]) -> Bar | None:
    if not subs:
        return None
    ordered = [subs[t] for t in sorted(subs)]
    return Bar(
        symbol=symbol,
        timestamp=start,
        open=ordered[0].open,
        high=max(b.high for b in ordered),
        low=min(b.low for b in ordered),
        close=ordered[-1].close,
        volume=sum(b.volume for b in ordered),
    )
