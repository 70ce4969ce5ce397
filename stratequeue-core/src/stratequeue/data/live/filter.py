"""The last gate before a strategy: each bar of a symbol once, in time order, sound."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from ...granularity import Granularity
from ...models import Bar
from .values import utcnow

__all__ = ["BarFilter"]

log = logging.getLogger("stratequeue.data")


class BarFilter:
    """Keeps bad data from strategies: drops (and logs, with the reason) bars that have NaN or
    non-positive prices, high below low, a timestamp in the future, or that repeat or precede a
    bar already delivered for their symbol.

    ``last`` holds, per symbol, the start of the last bar delivered: it is the one record of
    what was emitted, shared by history, the live stream, the :class:`BarFolder` (a late
    sub-bar of a delivered period is ignored) and :func:`backfill` (which resumes after it).
    """

    def __init__(self, granularity: Granularity, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.granularity = granularity
        self.clock = clock
        self.last: dict[str, datetime] = {}
        self.dropped = 0

    def mark(self, symbol: str, start: datetime) -> None:
        """Treat every bar of ``symbol`` starting at or before ``start`` as delivered."""
        last = self.last.get(symbol)
        if last is None or start > last:
            self.last[symbol] = start

    def accept(self, bar: Bar, *, check_future: bool = True) -> bool:
        """True, and ``bar`` is recorded as delivered, when a strategy may see it; False (the
        reason logged, ``dropped`` counted) for a repeated, older, future (``check_future``)
        or unsound (:meth:`Bar.problem`) bar."""
        reason = bar.problem()
        if reason is None and check_future and bar.timestamp > self.clock():
            reason = f"its time {bar.timestamp.isoformat()} is in the future"
        last = self.last.get(bar.symbol)
        if reason is None and last is not None and bar.timestamp <= last:
            reason = (
                "it repeats an already delivered bar"
                if bar.timestamp == last
                else f"it is older than the last delivered bar ({last.isoformat()})"
            )
        if reason is not None:
            self.dropped += 1
            log.warning("Dropped bar %s %s: %s", bar.symbol, bar.timestamp.isoformat(), reason)
            return False
        self.last[bar.symbol] = bar.timestamp
        return True

    def filter(self, bars: Iterable[Bar], *, check_future: bool = True) -> Iterator[Bar]:
        """The bars of ``bars`` that :meth:`accept` lets through, in their order."""
        for bar in bars:
            if self.accept(bar, check_future=check_future):
                yield bar
