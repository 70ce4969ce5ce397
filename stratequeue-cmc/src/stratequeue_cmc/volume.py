"""Bars from polled quotes: each quote is a one-price sub-bar folded by the core toolkit;
only the volume is CoinMarketCap's own.

open = the period's first sample, close = its last, high/low = the extremes of its samples.
CoinMarketCap gives no per-period volume, only a rolling 24-hour volume ``V``. Between the
first and last sample of a period ``V`` changes by (volume traded since) minus (volume that
rolled out of the window, traded 24 h earlier); assuming the rolled-out part traded at the
window's average rate, the period's volume is estimated as
``V_last - V_first + mean(V) * period / 24h``, never below zero. With a single sample the
estimate is ``V * period / 24h``. It is an estimate: use it for filters, not for accounting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from stratequeue.models import Bar

from .payloads import Sample

__all__ = ["estimated_volume", "sample_bar"]

_DAY = 86400.0


def sample_bar(sample: Sample, user_symbol: str) -> Bar:
    """One quote as a sub-bar whose volume is the rolling 24-hour volume."""
    p = sample.price
    return Bar(user_symbol, sample.time, p, p, p, p, sample.volume_24h)


def estimated_volume(samples: Sequence[Bar], length: timedelta) -> float:
    """The period's volume from its samples' 24-hour volumes (see the module's docstring)."""
    volumes = [s.volume for s in samples if not math.isnan(s.volume)]
    if not volumes:
        return math.nan
    mean = sum(volumes) / len(volumes)
    return max(0.0, volumes[-1] - volumes[0] + mean * length.total_seconds() / _DAY)
