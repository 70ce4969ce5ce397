"""Bar granularities: ``1s``, ``1m``, ``5m``, ``15m``, ``30m``, ``1h``, ``1d``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import UsageError

__all__ = ["GRANULARITIES", "Granularity", "parse_granularity"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day"}

#: Every granularity the built-in demo source produces; plugins may support fewer.
GRANULARITIES: tuple[str, ...] = ("1s", "1m", "5m", "15m", "30m", "1h", "1d")


@dataclass(frozen=True, slots=True)
class Granularity:
    """A bar length such as ``5m``: ``multiplier`` units of ``unit`` (s, m, h or d)."""

    multiplier: int
    unit: str

    def __str__(self) -> str:
        return f"{self.multiplier}{self.unit}"

    @property
    def seconds(self) -> int:
        return self.multiplier * _UNITS[self.unit]

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def unit_name(self) -> str:
        """``second``, ``minute``, ``hour`` or ``day`` (the vendors' timespan words)."""
        return _NAMES[self.unit]

    def floor(self, ts: datetime) -> datetime:
        """The start of the bar that contains ``ts`` (epoch-aligned, UTC)."""
        epoch = int(ts.timestamp())
        return datetime.fromtimestamp(epoch - epoch % self.seconds, tz=ts.tzinfo)


def parse_granularity(text: str, supported: tuple[str, ...] = GRANULARITIES) -> Granularity:
    """Parse ``'5m'`` into a :class:`Granularity`; a value outside ``supported`` is a UsageError."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if not match or f"{int(match[1])}{match[2]}" not in supported:
        raise UsageError(
            f"Unknown granularity '{text}'. Use one of: {', '.join(supported)} "
            "(see: stratequeue --list-granularities)"
        )
    return Granularity(int(match[1]), match[2])
