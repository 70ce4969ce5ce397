"""User symbols (``AAPL``, ``BTC``, ``BTC/USD``) to Polygon tickers (``AAPL``, ``X:BTCUSD``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stratequeue.errors import UsageError

__all__ = ["KNOWN_CRYPTO", "PolygonSymbol", "to_polygon"]

#: Bare names taken as crypto against USD; anything else bare is a stock ticker.
KNOWN_CRYPTO = frozenset(
    [
        "BTC",
        "ETH",
        "SOL",
        "XRP",
        "DOGE",
        "ADA",
        "LTC",
        "AVAX",
        "DOT",
        "LINK",
        "MATIC",
        "BCH",
        "XLM",
        "UNI",
        "SHIB",
        "TRX",
        "ATOM",
        "ETC",
    ]
)
_QUOTES = ("USDT", "USDC", "USD", "EUR", "GBP", "BTC", "ETH")


@dataclass(frozen=True, slots=True)
class PolygonSymbol:
    """One subscribed symbol: what the user wrote and what Polygon calls it."""

    user: str
    ticker: str  # REST ticker: AAPL or X:BTCUSD
    market: str  # "stocks" or "crypto"
    stream_name: str  # websocket name: AAPL or BTC-USD

    @property
    def is_crypto(self) -> bool:
        return self.market == "crypto"


def _crypto(user: str, base: str, quote: str) -> PolygonSymbol:
    return PolygonSymbol(user, f"X:{base}{quote}", "crypto", f"{base}-{quote}")


def to_polygon(symbol: str) -> PolygonSymbol:
    text = symbol.strip().upper()
    if not text:
        raise UsageError("An empty symbol was given. Use e.g. --symbols AAPL or BTC/USD")
    pair = re.fullmatch(r"([A-Z0-9]+)[/-]([A-Z0-9]+)", text)
    if pair:
        return _crypto(symbol, pair[1], pair[2])
    if text.startswith("X:"):
        body = text[2:]
        for quote in _QUOTES:
            if body.endswith(quote) and len(body) > len(quote):
                return _crypto(symbol, body[: -len(quote)], quote)
        raise UsageError(f"Cannot read the crypto ticker '{symbol}'. Write it as BTC/USD")
    if text in KNOWN_CRYPTO:
        return _crypto(symbol, text, "USD")
    if not re.fullmatch(r"[A-Z0-9.]+", text):
        raise UsageError(
            f"'{symbol}' is not a Polygon stock ticker or crypto pair. "
            "Use e.g. AAPL, BTC or BTC/USD"
        )
    return PolygonSymbol(symbol, text, "stocks", text)
