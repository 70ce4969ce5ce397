"""Coinbase product ids (``BTC-USD``) from the symbols users type, and sizes and prices put on
a product's increments (read from the product endpoint).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from stratequeue.errors import UsageError

__all__ = ["Product", "product_id", "said_once"]

log = logging.getLogger(__name__)

#: quote currencies a run of letters may end with, longest first (BTCUSDC before BTCUSD)
QUOTES = ("USDC", "USDT", "USD", "EUR", "GBP", "BTC", "ETH")
_said: set[str] = set()


def product_id(symbol: str, default_quote: str = "USD") -> str:
    """``BTC``, ``BTCUSD``, ``btc/usd``, ``BTC-USD`` -> ``BTC-USD``."""
    text = symbol.strip().upper().replace("/", "-").replace("_", "-")
    if not text or not all(part.isalnum() for part in text.split("-")):
        raise UsageError(
            f"{symbol!r} is not a Coinbase product: write it like BTC-USD (or BTC, BTCUSD, BTC/USD)"
        )
    if "-" in text:
        base, _, quote = text.partition("-")
        return f"{base}-{quote}"
    for quote in QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return f"{text[: -len(quote)]}-{quote}"
    return f"{text}-{default_quote}"


def said_once(symbol: str, product: str) -> None:
    """Tell the user, once per symbol, which Coinbase product a symbol they typed is."""
    if symbol != product and symbol not in _said:
        _said.add(symbol)
        log.info("Symbol %s is Coinbase product %s", symbol, product)


@dataclass(frozen=True)
class Product:
    product_id: str
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    price: float

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Product:
        pid = str(data["product_id"])
        base, _, quote = pid.partition("-")
        return cls(
            product_id=pid,
            base_currency=str(data.get("base_currency_id") or base),
            quote_currency=str(data.get("quote_currency_id") or quote),
            base_increment=Decimal(str(data.get("base_increment") or "0.00000001")),
            quote_increment=Decimal(str(data.get("quote_increment") or "0.01")),
            base_min_size=Decimal(str(data.get("base_min_size") or "0")),
            price=float(data.get("price") or 0.0),
        )

    def size(self, qty: float) -> str:
        """``qty`` rounded down to the base increment (never more than asked or held)."""
        return _text(Decimal(repr(qty)).quantize(self.base_increment, rounding=ROUND_DOWN))

    def quote_size(self, notional: float) -> str:
        return _text(Decimal(repr(notional)).quantize(self.quote_increment, rounding=ROUND_DOWN))

    def price_text(self, price: float) -> str:
        """``price`` on the quote increment (nearest)."""
        steps = (Decimal(repr(price)) / self.quote_increment).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        return _text(steps * self.quote_increment)


def _text(value: Decimal) -> str:
    """A decimal as Coinbase writes it: plain notation, no exponent."""
    return format(value.normalize(), "f")
