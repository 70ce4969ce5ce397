"""How a strategy sees bar times: the index of ``self.data``.

Everything outside the engine keeps time as aware UTC (bars, orders, fills, the ledger). A
backtest, though, sees its DataFrame's index as it is: naive dates from a CSV, exchange-local
times, a fixed UTC offset. A :class:`TimeView` is that presentation: an aware zone, or naive
wall times of a zone. Times leave the engine as UTC again (``BarBuffer.utc_time``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from ..errors import UsageError

__all__ = ["UTC_VIEW", "TimeView", "zone_view"]


@dataclass(frozen=True)
class TimeView:
    """Bar times in ``zone``; ``naive``: as wall times without a zone (as a CSV's dates)."""

    zone: tzinfo = UTC
    naive: bool = False

    @classmethod
    def of(cls, index: pd.DatetimeIndex) -> TimeView:
        """The view a backtest over ``index`` has (naive dates are taken as UTC wall times)."""
        tz = index.tz
        return cls(UTC, True) if tz is None else cls(tz, False)

    def dtype(self) -> Any:
        """The index dtype (nanoseconds) this view shows."""
        return np.dtype("M8[ns]") if self.naive else pd.DatetimeTZDtype("ns", tz=self.zone)

    def present(self, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """``index`` (aware, or naive UTC) as this view shows it."""
        aware = index.tz_localize(UTC) if index.tz is None else index
        shown = aware.tz_convert(self.zone)
        return shown.tz_localize(None) if self.naive else shown

    def wall(self, ts: datetime) -> datetime:
        """An aware ``ts`` as this view's (naive or aware) datetime."""
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        shown = ts.astimezone(self.zone)
        return shown.replace(tzinfo=None) if self.naive else shown

    def describe(self) -> str:
        name = getattr(self.zone, "key", None) or str(self.zone)
        return f"{name} wall times (naive)" if self.naive else f"aware {name}"


UTC_VIEW = TimeView()


def zone_view(name: str, where: str) -> TimeView:
    """``TIMEZONE`` / ``--timezone``: naive wall times in the IANA zone ``name``."""
    try:
        return TimeView(ZoneInfo(str(name)), True)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UsageError(
            f"{where}: '{name}' is not an IANA time zone. Use a name such as "
            "America/New_York, Europe/London or UTC."
        ) from None
