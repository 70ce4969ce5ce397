"""Where bars start and end.

Intraday bars (seconds, minutes, hours) start on multiples of their length since the Unix
epoch, in UTC. Daily bars start at midnight in the market's own time zone (``day_zone``):
vendors stamp a stock's daily bar at midnight New York, a crypto pair's at midnight UTC or
(Alpaca) midnight Chicago. A daily bar lasts 23 or 25 hours on daylight-saving days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from ...granularity import Granularity

__all__ = ["BarGrid"]


@dataclass(frozen=True, slots=True)
class BarGrid:
    """The bar boundaries of one granularity in one market."""

    granularity: Granularity
    day_zone: tzinfo = UTC

    def start(self, ts: datetime) -> datetime:
        """Start (UTC) of the bar containing ``ts``."""
        g = self.granularity
        if g.unit == "d":
            local = ts.astimezone(self.day_zone).date()
            return datetime.combine(local, time(), self.day_zone).astimezone(UTC)
        return g.floor(ts.astimezone(UTC))

    def end(self, start: datetime) -> datetime:
        """End (exclusive, UTC) of the bar starting at ``start``."""
        g = self.granularity
        if g.unit == "d":
            local = start.astimezone(self.day_zone).date() + timedelta(days=g.multiplier)
            return datetime.combine(local, time(), self.day_zone).astimezone(UTC)
        return start + g.timedelta
