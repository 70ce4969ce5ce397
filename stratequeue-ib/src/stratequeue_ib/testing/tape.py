"""The fake TWS's market data: per instrument, every 5-second bar that "happened" (the tape).

Real-time bars are pushed from it; history of any bar size is the tape folded into that size
(intraday sizes start on multiples of their length since the epoch; daily bars by New York
date), including the bar still in progress, as TWS does. ``useRTH`` keeps 09:30-16:00 New York
for stocks. A currency pair's tape holds midpoints; its volume is sent as -1, as TWS does.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["BAR_SECONDS", "TapeBar", "fold", "parse_duration", "parse_end", "walk"]

NEW_YORK = ZoneInfo("America/New_York")
BAR_SECONDS = {
    "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
    "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200,
    "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400,
    "8 hours": 28800, "1 day": 86400,
}  # fmt: skip
_UNIT_SECONDS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 31 * 86400, "Y": 366 * 86400}


@dataclass(frozen=True)
class TapeBar:
    """One 5-second bar (``time``: its start, epoch seconds)."""

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int


def walk(start: datetime, count: int, price: float, seed: int = 7) -> list[TapeBar]:
    """``count`` 5-second bars from ``start`` (floored to 5 s), a seeded random walk in cents."""
    rng = random.Random(seed)
    t0 = int(start.timestamp()) // 5 * 5
    out = []
    for i in range(count):
        o = round(price, 2)
        c = round(max(o + rng.choice((-3, -2, -1, 0, 1, 2, 3)) * 0.01, 0.01), 2)
        h = round(max(o, c) + rng.choice((0, 1, 2)) * 0.01, 2)
        lo = round(max(min(o, c) - rng.choice((0, 1, 2)) * 0.01, 0.01), 2)
        v = float(rng.randrange(1, 40) * 100)
        out.append(TapeBar(t0 + 5 * i, o, h, lo, c, v, round((o + c) / 2, 4), rng.randrange(1, 30)))
        price = c
    return out


def parse_end(text: str, now: datetime) -> datetime:
    """``endDateTime``: empty (now), ``yyyymmdd hh:mm:ss UTC`` or ``yyyymmdd-hh:mm:ss``."""
    text = text.strip().removesuffix(" UTC").replace("-", " ")
    if not text:
        return now
    return datetime.strptime(text[:17], "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)


def parse_duration(text: str) -> timedelta:
    """``durationStr`` such as ``3600 S`` or ``10 D``."""
    amount, unit = text.split()
    return timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])


def _in_rth(t: int) -> bool:
    local = datetime.fromtimestamp(t, UTC).astimezone(NEW_YORK)
    return local.weekday() < 5 and time(9, 30) <= local.time() < time(16, 0)


def _day_key(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).astimezone(NEW_YORK).strftime("%Y%m%d")


def fold(
    tape: Iterable[TapeBar], start: datetime, end: datetime, size: str, rth: bool
) -> list[tuple[str, TapeBar]]:
    """The tape's bars starting in ``[start, end)`` folded into ``size`` bars, oldest first,
    each with its date as sent with ``formatDate=2`` (epoch seconds; ``yyyymmdd`` for days)."""
    seconds = BAR_SECONDS[size]
    lo, hi = start.timestamp(), end.timestamp()
    groups: dict[str, list[TapeBar]] = {}
    for bar in sorted(tape, key=lambda b: b.time):
        if not lo <= bar.time < hi or (rth and not _in_rth(bar.time)):
            continue
        key = _day_key(bar.time) if size == "1 day" else str(bar.time // seconds * seconds)
        groups.setdefault(key, []).append(bar)
    out = []
    for key, subs in groups.items():
        volume = sum(b.volume for b in subs)
        wap = sum(b.wap * b.volume for b in subs) / volume if volume else subs[-1].close
        out.append(
            (
                key,
                TapeBar(
                    subs[0].time,
                    subs[0].open,
                    max(b.high for b in subs),
                    min(b.low for b in subs),
                    subs[-1].close,
                    volume,
                    round(wap, 4),
                    sum(b.count for b in subs),
                ),
            )
        )
    return out
