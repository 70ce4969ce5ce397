"""Bar boundaries as Polygon draws them, on the toolkit's :class:`BarGrid`.

Intraday bars (seconds, minutes, hours) start on multiples of their length since the Unix
epoch, in UTC. Daily bars start at midnight America/New_York for stocks (Polygon's daily
stock aggregates carry that timestamp) and at midnight UTC for crypto.
"""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from stratequeue.data.live import BarGrid
from stratequeue.granularity import Granularity

__all__ = ["NEW_YORK", "grid_for", "rest_span", "sub_granularity"]

NEW_YORK = ZoneInfo("America/New_York")


def grid_for(granularity: Granularity, market: str) -> BarGrid:
    """The bar grid of ``granularity`` in ``market`` (``stocks`` or ``crypto``)."""
    return BarGrid(granularity, NEW_YORK if market == "stocks" else UTC)


def rest_span(granularity: Granularity) -> tuple[int, str]:
    """Polygon's (multiplier, timespan) for a granularity: 5m -> (5, "minute")."""
    return granularity.multiplier, granularity.unit_name


def sub_granularity(granularity: Granularity) -> Granularity:
    """What live bars are built from: 1s bars from per-second aggregates, all else from
    per-minute aggregates."""
    return Granularity(1, "s") if granularity.unit == "s" else Granularity(1, "m")
