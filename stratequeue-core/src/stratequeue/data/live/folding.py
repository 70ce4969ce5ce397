"""Folding sub-bars into closed bars of any granularity.

A sub-bar is anything with a time and prices: a vendor's minute or second bar, or a trade or
quote as a one-price bar (:func:`trade_bar`, :func:`quote_bar`). The folder keeps them per
symbol and period, by start time, so the same sub-bar arriving twice (websocket and backfill)
counts once. A sub-bar of a period already delivered (per the shared :class:`BarFilter`) is a
late revision: ignored and logged. A period with no sub-bars gives no bar: it is skipped,
never filled with NaN or a copy of the previous close.

A period closes when a sub-bar reaching its end arrives (``sub_length``), when
:meth:`BarFolder.close_through` passes its end, or, on a ``sparse`` feed (a quiet minute has no
bar), when a sub-bar of a later period arrives. Closed bars go through the filter: what this
returns is exactly what the strategy may see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from ...models import Bar
from .filter import BarFilter
from .grid import BarGrid

__all__ = ["BarFolder", "VolumeRule", "quote_bar", "summed_volume", "trade_bar"]

#: How a period's volume comes from its sub-bars (oldest first) and the period's length.
VolumeRule = Callable[[Sequence[Bar], timedelta], float]


def summed_volume(subs: Sequence[Bar], length: timedelta) -> float:
    """The default :data:`VolumeRule`: the sub-bars' volumes added up."""
    return sum(b.volume for b in subs)


def trade_bar(symbol: str, at: datetime, price: float, size: float) -> Bar:
    """One trade as a sub-bar (fold trades with ``sub_length=timedelta(0)``)."""
    return Bar(symbol, at, price, price, price, price, size)


def quote_bar(symbol: str, at: datetime, bid: float, ask: float) -> Bar:
    """One quote as a sub-bar at its mid price, with no volume."""
    mid = (bid + ask) / 2
    return Bar(symbol, at, mid, mid, mid, mid, 0.0)


class BarFolder:
    """Folds sub-bars of several symbols into closed bars (see the module's description).

    Args:
        grids: each symbol's :class:`BarGrid` (where its periods start and end).
        sub_length: how long one sub-bar lasts (``timedelta(minutes=1)`` for minute bars,
            ``timedelta(0)`` for trades and quotes).
        bar_filter: the source's filter: closed bars pass through it, and it says which
            periods were already delivered.
        sparse: the feed sends nothing for a quiet period: a sub-bar of a later period closes
            the open one.
        volume: how a period's volume comes from its sub-bars (:data:`VolumeRule`).
        logger: where late and refused sub-bars are logged (default ``stratequeue.data``).
    """

    def __init__(
        self,
        grids: Mapping[str, BarGrid],
        sub_length: timedelta,
        bar_filter: BarFilter,
        *,
        sparse: bool = False,
        volume: VolumeRule = summed_volume,
        logger: logging.Logger | None = None,
    ) -> None:
        self.grids = dict(grids)
        self.sub_length = sub_length
        self.filter = bar_filter
        self.sparse = sparse
        self.volume = volume
        self.log = logger or logging.getLogger("stratequeue.data")
        self._open: dict[str, dict[datetime, dict[datetime, Bar]]] = {}

    def begin(self, symbol: str, moment: datetime) -> None:
        """Deliver ``symbol`` from the period containing ``moment`` on (a backfill makes it
        whole), unless history already set where delivery resumes."""
        if symbol not in self.filter.last:
            grid = self.grids[symbol]
            before = grid.start(moment) - timedelta(microseconds=1)
            self.filter.mark(symbol, grid.start(before))

    def resume_point(self, symbol: str, now: datetime) -> datetime:
        """Where a backfill of ``symbol`` must start to complete every undelivered bar."""
        grid = self.grids[symbol]
        open_starts = list(self._open.get(symbol, {}))
        if open_starts:
            return min(open_starts)
        last = self.filter.last.get(symbol)
        return grid.end(last) if last is not None else grid.start(now)

    def add(self, sub: Bar, now: datetime | None = None) -> list[Bar]:
        """Take one sub-bar; return the bars it closes, oldest first. A sub-bar starting
        after ``now`` is dropped (a clock or feed error)."""
        problem = sub.problem()
        if problem is None and now is not None and sub.timestamp > now:
            problem = f"its time is in the future (now {now.isoformat()})"
        if problem is not None:
            self.log.warning(
                "Dropped %s update at %s: %s", sub.symbol, sub.timestamp.isoformat(), problem
            )
            return []
        grid = self.grids[sub.symbol]
        start = grid.start(sub.timestamp)
        last = self.filter.last.get(sub.symbol)
        if last is not None and start <= last:
            self.log.info(
                "Ignored a late revision for %s at %s: its %s period is already closed",
                sub.symbol,
                sub.timestamp.isoformat(),
                start.isoformat(),
            )
            return []
        buckets = self._open.setdefault(sub.symbol, {})
        bucket = buckets.setdefault(start, {})
        if sub.timestamp in bucket:
            self.log.debug(
                "Duplicate %s update at %s dropped", sub.symbol, sub.timestamp.isoformat()
            )
            return []
        bucket[sub.timestamp] = sub
        if self.sub_length and sub.timestamp + self.sub_length >= grid.end(start):
            return self._close(sub.symbol, start)
        if self.sparse:
            earlier = [s for s in buckets if s < start]
            return self._close(sub.symbol, max(earlier)) if earlier else []
        return []

    def close_through(self, moment: datetime, symbols: Iterable[str] | None = None) -> list[Bar]:
        """Close every open period (of ``symbols``, default all) that ended at or before
        ``moment``; oldest first."""
        closed: list[Bar] = []
        wanted = None if symbols is None else set(symbols)
        for symbol, buckets in list(self._open.items()):
            if wanted is not None and symbol not in wanted:
                continue
            grid = self.grids[symbol]
            ended = [s for s in buckets if grid.end(s) <= moment]
            if ended:
                closed.extend(self._close(symbol, max(ended)))
        closed.sort(key=lambda b: (b.timestamp, b.symbol))
        return closed

    def _close(self, symbol: str, start: datetime) -> list[Bar]:
        """Deliver ``start``'s period of ``symbol`` and any older one still open."""
        buckets = self._open.get(symbol, {})
        grid = self.grids[symbol]
        out = []
        for s in sorted(x for x in buckets if x <= start):
            subs = [sub for _, sub in sorted(buckets.pop(s).items())]
            bar = self._combine(symbol, s, subs, grid.end(s) - s)
            if self.filter.accept(bar):
                out.append(bar)
            else:
                self.filter.mark(symbol, s)
        return out

    def _combine(self, symbol: str, start: datetime, subs: Sequence[Bar], length: timedelta) -> Bar:
        return Bar(
            symbol=symbol,
            timestamp=start,
            open=subs[0].open,
            high=max(b.high for b in subs),
            low=min(b.low for b in subs),
            close=subs[-1].close,
            volume=self.volume(subs, length),
        )
