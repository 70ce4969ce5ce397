"""Crypto versus stock symbols, and Alpaca's two spellings of a crypto pair.

Orders and market data name a pair ``BTC/USD``; positions come back as ``BTCUSD``. Bare
``BTC`` (as in ``--symbols AAPL,BTC``) means the pair against USD.
"""

from __future__ import annotations

__all__ = ["CRYPTO_BASES", "is_crypto", "pair", "position_symbol"]

#: Coins Alpaca lists, so ``BTC`` and ``BTCUSD`` are recognised as pairs.
CRYPTO_BASES = frozenset(
    [
        "AAVE",
        "AVAX",
        "BAT",
        "BCH",
        "BTC",
        "CRV",
        "DOGE",
        "DOT",
        "ETH",
        "GRT",
        "LINK",
        "LTC",
        "MKR",
        "PEPE",
        "SHIB",
        "SOL",
        "SUSHI",
        "TRUMP",
        "UNI",
        "USDC",
        "USDT",
        "XRP",
        "XTZ",
        "YFI",
    ]
)
_QUOTES = ("USDT", "USDC", "USD", "BTC")


def _split(symbol: str) -> tuple[str, str] | None:
    text = symbol.strip().upper()
    if "/" in text:
        base, _, quote = text.partition("/")
        return base, quote
    if text in CRYPTO_BASES:
        return text, "USD"
    for quote in _QUOTES:
        base = text[: -len(quote)]
        if text.endswith(quote) and base in CRYPTO_BASES:
            return base, quote
    return None


def is_crypto(symbol: str) -> bool:
    return _split(symbol) is not None


def pair(symbol: str) -> str:
    """The order and market-data spelling: ``BTC/USD`` for crypto, the ticker for stocks."""
    parts = _split(symbol)
    return f"{parts[0]}/{parts[1]}" if parts else symbol.strip().upper()


def position_symbol(symbol: str) -> str:
    """The positions-endpoint spelling: ``BTCUSD`` for crypto, the ticker for stocks."""
    return pair(symbol).replace("/", "")
