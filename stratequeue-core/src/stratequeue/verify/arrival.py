"""Late bars: when each live bar reached the run against when it closed.

A live run keeps the wall-clock time each bar reached StrateQueue (``bars.received_at``);
warm-up history, replayed bars and bars of ledgers older than schema 5 keep none and are never
counted. A bar is late when it came more than one bar interval (the run's granularity) after
its close (its start plus the interval). Needs no vendor: shown by every ``stratequeue
verify`` whose run received bars live, and inside the data-drift section with ``--data-source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..granularity import parse_granularity
from ..ledger import Ledger

__all__ = ["Lateness", "check_lateness"]


@dataclass
class Lateness:
    symbol: str
    interval: timedelta
    #: bars of the symbol received live
    received: int
    #: (bar start, seconds after its close it came) of each late bar, by bar time
    late: list[tuple[datetime, float]]

    def line(self) -> str | None:
        """The late bars in one line (None when none was late)."""
        if not self.late:
            return None
        worst_ts, worst = max(self.late, key=lambda item: item[1])
        limit = self.interval.total_seconds()
        return (
            f"late: {len(self.late)} bar(s) received more than {limit:.0f} s after their close "
            f"(worst {worst_ts:%Y-%m-%d %H:%M}, {worst:.1f} s after its close)"
        )

    def lines(self) -> list[str]:
        """Its own section (without ``--data-source``)."""
        late = self.line()
        limit = self.interval.total_seconds()
        out = [f"bars received {self.symbol}: {self.received} live"]
        out.append(f"  {late}" if late else f"  none late (each within {limit:.0f} s of its close)")
        return out


def check_lateness(ledger: Ledger, symbols: list[str]) -> list[Lateness]:
    """Each of ``symbols`` that received bars live, with its late bars."""
    runs = ledger.table("runs")
    if not runs:
        return []
    interval = parse_granularity(runs[-1]["granularity"]).timedelta
    out = []
    for symbol in symbols:
        arrivals = ledger.arrivals(symbol)
        if not arrivals:
            continue
        late = []
        for ts, received in arrivals:
            after_close = received - (ts + interval)
            if after_close > interval:
                late.append((ts, after_close.total_seconds()))
        out.append(Lateness(symbol, interval, len(arrivals), late))
    return out
