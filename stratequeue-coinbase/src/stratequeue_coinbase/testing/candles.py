"""The fake's candles: a pure function of (product, start time), so every page of a history
agrees with every other, newest first as Coinbase sends them."""

from __future__ import annotations

import random
from typing import Any

__all__ = ["GRANULARITIES", "candle", "candles"]

GRANULARITIES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}


def candle(product_id: str, around: float, start: int) -> dict[str, Any]:
    rng = random.Random(f"{product_id}:{start}")
    open_ = round(around * (1 + rng.uniform(-0.01, 0.01)), 2)
    close = round(open_ * (1 + rng.uniform(-0.002, 0.002)), 2)
    high = round(max(open_, close) * (1 + rng.uniform(0, 0.001)), 2)
    low = round(min(open_, close) * (1 - rng.uniform(0, 0.001)), 2)
    volume = round(rng.uniform(0.1, 5.0), 8)
    return {
        "start": str(start),
        "low": str(low),
        "high": str(high),
        "open": str(open_),
        "close": str(close),
        "volume": str(volume),
    }


def candles(
    product_id: str, around: float, start: int, end: int, step: int
) -> list[dict[str, Any]]:
    """Candles starting in [start, end] on the ``step`` grid, newest first."""
    first = -(-start // step) * step
    return [candle(product_id, around, t) for t in range(first, end + 1, step)][::-1]
