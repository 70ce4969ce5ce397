"""Sizing for brokers that report real fills.

backtesting.py sizes a fraction order (``buy(size=0.25)``) when it fills, with the fill price;
a real broker needs a quantity when the order is sent. It is converted here from the last
close and the strategy book's available margin, as backtesting.py would with that price:
whole units for stocks, fractions (to 1e-6) for crypto. The book is then reconciled with the
broker's real fill (``StrategyRunner.apply_fill``), so the strategy sees what it holds.
"""

from __future__ import annotations

import math
from typing import Any

from ..models import OrderIntent

__all__ = ["broker_qty", "is_crypto"]

_CRYPTO_BASES = {
    "BTC",
    "ETH",
    "SOL",
    "DOGE",
    "ADA",
    "XRP",
    "LTC",
    "AVAX",
    "DOT",
    "LINK",
    "BCH",
    "UNI",
}


def is_crypto(symbol: str) -> bool:
    base = symbol.upper().replace("X:", "").split("/")[0]
    for quote in ("USDT", "USDC", "USD"):
        if base.endswith(quote) and base[: -len(quote)] in _CRYPTO_BASES:
            return True
    return "/" in symbol or base in _CRYPTO_BASES


def broker_qty(sleeve: Any, intent: OrderIntent, last_price: float | None) -> float:
    """The signed quantity to send for ``intent`` (0 when the book cannot afford one unit)."""
    sign = 1.0 if intent.size > 0 else -1.0
    if not intent.is_fraction:
        return sign * abs(intent.size)
    price = intent.limit or intent.stop or intent.reference_price or last_price
    if not price:
        return 0.0
    runner = sleeve.runner
    book = runner._broker
    budget = book.margin_available * book._leverage * abs(intent.size)
    units = budget / price
    qty = math.floor(units * 1e6) / 1e6 if is_crypto(sleeve.symbol) else float(math.floor(units))
    return sign * qty
