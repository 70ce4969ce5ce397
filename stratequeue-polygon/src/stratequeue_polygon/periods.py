"""Bar boundaries as Polygon draws them.

Intraday bars (seconds, minutes, hours) start on multiples of their length since the Unix
epoch, in UTC. Daily bars start at midnight America/New_York for stocks (Polygon's daily
stock aggregates carry that timestamp) and at midnight UTC for crypto.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from stratequeue.granularity import Granularity

__all__ = ["NEW_YORK", "Periods", "rest_span", "sub_granularity"]

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class Periods:
    """The bar grid of one granularity in one market."""

    granularity: Granularity
    market: str

    @property
    def _daily_tz(self):
        return NEW_YORK if self.market == "stocks" else UTC

    def start(self, ts: datetime) -> datetime:
        """Start of the bar containing ``ts``."""
        if self.granularity.unit == "d":
            local = ts.astimezone(self._daily_tz)
            return datetime.combine(local.date(), time(), self._daily_tz).astimezone(UTC)
        return self.granularity.floor(ts.astimezone(UTC))

    def end(self, start: datetime) -> datetime:
        """End (exclusive) of the bar starting at ``start``; 23 or 25 hours on DST days."""
        if self.granularity.unit == "d":
            local = start.astimezone(self._daily_tz).date() + timedelta(days=1)
            return datetime.combine(local, time(), self._daily_tz).astimezone(UTC)
        return start + self.granularity.timedelta


def rest_span(granularity: Granularity) -> tuple[int, str]:
    """Polygon's (multiplier, timespan) for a granularity: 5m -> (5, "minute")."""
    return granularity.multiplier, granularity.unit_name


def sub_granularity(granularity: Granularity) -> Granularity:
    """What live bars are built from: 1s bars from per-second aggregates, all else from
    per-minute aggregates."""
    return Granularity(1, "s") if granularity.unit == "s" else Granularity(1, "m")
