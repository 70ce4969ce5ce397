"""A run's moments: the bars of one time. A replay's are grouped so that their runners step
together (:func:`moments`); with many runners the display shows one line per moment
(:class:`Moment`); and the engine's time per moment is held against the bar interval
(:class:`EngineBudget`), said once when a run falls behind.

A live bar must be decided well within its interval. When the engine's time per moment (all
runners of the bars of one time, the portfolio, the ledger) stays above a quarter of the
interval, the run says so once, with the two ways out: fewer bars per runner
(``--max-history``) or more cores (``--executor process|ray``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..models import Bar

__all__ = ["SUMMARISE_ABOVE", "EngineBudget", "Moment", "moments"]


class EngineBudget:
    """Feeds on the engine's seconds per bar (:meth:`spent`), summed per moment (the bars of
    one time, however they arrive); warns once through ``say``."""

    def __init__(
        self,
        interval: float,
        say: Callable[[str], None],
        *,
        share: float = 0.25,
        settle: int = 5,
        smoothing: float = 0.2,
    ) -> None:
        self.limit = interval * share
        self.say = say
        self.settle = settle  # the first moments pay one-off costs (imports, caches)
        self.smoothing = smoothing
        self.average: float | None = None
        self.seen = 0
        self.warned = False
        self._when: Any = None
        self._spent = 0.0

    def spent(self, when: Any, seconds: float, runners: int) -> None:
        """``seconds`` of engine time on a bar of time ``when``."""
        if self._when is not None and when != self._when:
            self.add(self._spent, runners)
            self._spent = 0.0
        self._when = when
        self._spent += seconds

    def add(self, seconds: float, runners: int) -> None:
        """One whole moment's engine time."""
        self.seen += 1
        if self.warned or self.seen <= self.settle:
            return
        a = self.smoothing
        self.average = seconds if self.average is None else a * seconds + (1 - a) * self.average
        if self.seen > 2 * self.settle and self.average > self.limit:
            self.warned = True
            self.say(
                f"⚠️  The engine takes {self.average * 1000:,.0f} ms per bar for {runners} "
                f"runner(s), more than a quarter of the bar interval "
                f"({self.limit * 4:g} s): decisions may come late. Bound each runner's "
                "history with --max-history N (or MAX_HISTORY in the strategy file), or spread "
                "the runners over more cores with --executor process (or ray)."
            )


#: above this many runners the display shows one line per moment, not every signal and fill
SUMMARISE_ABOVE = 20


class Moment:
    """Events of the bars of one time, shown together when the next time begins."""

    def __init__(self, show: Callable[[Any, int, list[Any]], None]) -> None:
        self.show = show
        self.when: Any = None
        self.bars = 0
        self.events: list[Any] = []

    def add(self, when: Any, events: list[Any]) -> None:
        if self.when is not None and when != self.when:
            self.flush()
        self.when = when
        self.bars += 1
        self.events += events

    def flush(self) -> None:
        if self.when is not None:
            self.show(self.when, self.bars, self.events)
        self.when, self.bars, self.events = None, 0, []


def moments(bars: Iterator[Bar], expected: int | None = None) -> Iterator[list[Bar]]:
    """A replay's bars grouped by moment: consecutive bars of one time, one per symbol (a
    symbol seen twice starts a new group), so that their runners can step together.

    A group of ``expected`` bars (every symbol's) is given at once, without reading the next
    bar: reading ahead would let a source that drives a broker (a replay against a real
    broker's fake) move that broker to the next bar before this one's orders are sent."""
    group: list[Bar] = []
    symbols: set[str] = set()
    for bar in bars:
        if group and (bar.timestamp != group[0].timestamp or bar.symbol in symbols):
            yield group
            group, symbols = [], set()
        group.append(bar)
        symbols.add(bar.symbol)
        if expected is not None and len(group) >= expected:
            yield group
            group, symbols = [], set()
    if group:
        yield group
