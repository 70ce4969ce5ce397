"""Small readers every data plugin needs: the time now, and vendor numbers that may be missing."""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["num", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default clock of every live source)."""
    return datetime.now(UTC)


def num(value: object) -> float:
    """``value`` as a float; NaN when it is missing (None) or not a number (``"n/a"``), so a
    bar built from it is dropped by :class:`~stratequeue.data.live.BarFilter` with the reason."""
    if value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
