"""IB's bar vocabulary: our granularities as IB bar sizes, a lookback as a duration string,
which prices to ask for, and IB's bars as ours.

IB's history has fixed bar sizes (``5 secs`` ... ``1 day``); the ``ib`` source offers exactly
those. Live bars are IB's 5-second real-time bars, folded into the granularity; so the
finest granularity is 5 s.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from stratequeue.data.live import num
from stratequeue.granularity import Granularity
from stratequeue.models import Bar

__all__ = [
    "BAR_SIZES",
    "GRANULARITIES",
    "MARKET_ZONE",
    "bar_of",
    "bar_size",
    "duration_for",
    "what_to_show",
]

#: our granularity -> IB's barSizeSetting
BAR_SIZES: dict[str, str] = {
    "5s": "5 secs",
    "10s": "10 secs",
    "15s": "15 secs",
    "30s": "30 secs",
    "1m": "1 min",
    "2m": "2 mins",
    "3m": "3 mins",
    "5m": "5 mins",
    "10m": "10 mins",
    "15m": "15 mins",
    "20m": "20 mins",
    "30m": "30 mins",
    "1h": "1 hour",
    "2h": "2 hours",
    "3h": "3 hours",
    "4h": "4 hours",
    "8h": "8 hours",
    "1d": "1 day",
}
GRANULARITIES: tuple[str, ...] = tuple(BAR_SIZES)

#: IB dates its daily bars by the exchange's trading day; ours start at midnight New York
MARKET_ZONE = ZoneInfo("America/New_York")

#: the longest duration IB serves per request for second bars (its step-size table)
_SECONDS_CAP = {5: 3600, 10: 14400, 15: 14400, 30: 28800}
#: seconds of trading in a regular US stock session (09:30-16:00)
_RTH_SECONDS = 23_400


def bar_size(granularity: Granularity) -> str:
    return BAR_SIZES[str(granularity)]


def duration_for(granularity: Granularity, bars: int, rth: bool) -> str:
    """A ``durationStr`` sure to hold ``bars`` closed bars despite nights, weekends and
    holidays: trading days needed, plus the day under way, plus weekends and a holiday."""
    bars = max(bars, 1)
    if granularity.unit == "s":
        cap = _SECONDS_CAP[granularity.multiplier]
        return f"{min(cap, bars * granularity.seconds * 2 + 60)} S"
    if granularity.unit == "d":
        trading_days = bars * granularity.multiplier
    else:
        per_day = _RTH_SECONDS if rth else 86_400
        trading_days = math.ceil(bars * granularity.seconds / per_day)
    calendar = trading_days + 1 + 2 * math.ceil((trading_days + 1) / 5) + 2
    if calendar > 365:
        return f"{math.ceil(calendar / 365)} Y"
    return f"{calendar} D"


def what_to_show(contract: Any) -> str:
    """Trades for stocks and futures; the midpoint for currency pairs (they have no trades)."""
    return "MIDPOINT" if contract.secType == "CASH" else "TRADES"


def _start(stamp: datetime | date) -> datetime:
    if isinstance(stamp, datetime):
        return stamp.astimezone(UTC)
    return datetime.combine(stamp, time(), MARKET_ZONE).astimezone(UTC)


def bar_of(symbol: str, raw: Any) -> Bar:
    """An ib_async ``BarData`` (history) or ``RealTimeBar`` as our bar. IB sends volume -1
    where there is none (midpoints): that is 0 here."""
    stamp = raw.date if hasattr(raw, "date") else raw.time
    opening = raw.open if hasattr(raw, "open") else raw.open_
    return Bar(
        symbol,
        _start(stamp),
        num(opening),
        num(raw.high),
        num(raw.low),
        num(raw.close),
        max(num(raw.volume), 0.0),
    )
