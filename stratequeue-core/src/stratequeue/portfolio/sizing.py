"""Sizing for brokers that report real fills.

backtesting.py sizes a fraction order (``buy(size=0.25)``) when it fills, with the fill price;
a real broker needs a quantity when the order is sent. It is converted here from the last
close and the strategy book's available margin, as backtesting.py would with that price:
whole units for stocks, fractions (to 1e-6) for crypto, whole multiples of the strategy's
fractional unit when it has one (``FractionalBacktest``'s sizing). The book is then reconciled
with the broker's real fill (``StrategyRunner.apply_fill``), so the strategy sees what it holds.

With a fractional unit an intent's size is in units of it: :func:`real_qty` is the quantity
the broker, the paper account and the ledger see (units times the unit).
"""

from __future__ import annotations

import math
from typing import Any

from ..models import OrderIntent

__all__ = ["broker_qty", "is_crypto", "real_qty"]

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


def real_qty(sleeve: Any, intent: OrderIntent) -> float:
    """The signed real quantity of ``intent``: its units times the sleeve's fractional unit
    (a fraction of the margin stays a fraction)."""
    return float(sleeve.runner.units.intent_qty(intent))


def broker_qty(sleeve: Any, intent: OrderIntent, last_price: float | None) -> float:
    """The signed quantity to send for ``intent`` (0 when the book cannot afford one unit)."""
    sign = 1.0 if intent.size > 0 else -1.0
    if not intent.is_fraction:
        return sign * abs(real_qty(sleeve, intent))
    price = intent.limit or intent.stop or intent.reference_price or last_price
    if not price:
        return 0.0
    runner = sleeve.runner
    budget = runner.buying_power * abs(intent.size)
    units = runner.units
    if units.unit is not None:  # whole units at the price per unit, as the book would
        return sign * units.qty(float(math.floor(budget / units.book_price(price))))
    qty = budget / price
    qty = math.floor(qty * 1e6) / 1e6 if is_crypto(sleeve.symbol) else float(math.floor(qty))
    return sign * qty
