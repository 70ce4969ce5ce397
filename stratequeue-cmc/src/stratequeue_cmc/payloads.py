"""Reading CoinMarketCap's ``data`` payloads, in every shape the API answers with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stratequeue.data.live import num
from stratequeue.errors import UsageError
from stratequeue.models import Bar

__all__ = ["Sample", "cmc_symbol", "parse_ohlcv", "parse_quotes", "parse_time"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One quote: the price and 24-hour volume as of ``time`` (CMC's ``last_updated``)."""

    symbol: str  # CMC symbol, e.g. BTC
    time: datetime
    price: float
    volume_24h: float


def cmc_symbol(text: str) -> str:
    """``BTC``, ``btc``, ``BTC/USD`` or ``BTC-USD`` -> ``BTC`` (quotes are in USD)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9]+)(?:[/-]([A-Za-z]+))?\s*", text or "")
    if not match:
        raise UsageError(f"'{text}' is not a CoinMarketCap symbol. Use e.g. BTC or BTC/USD")
    if match[2] and match[2].upper() not in ("USD", "USDT", "USDC"):
        raise UsageError(f"CoinMarketCap quotes here are in USD: write {match[1].upper()}/USD")
    return match[1].upper()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _items(data: Any, symbol: str) -> list[dict[str, Any]]:
    """The records for ``symbol``: keyed by symbol with a list (v2) or an object (v1), keyed
    by id, or a single record."""
    if not isinstance(data, dict):
        return []
    if "symbol" in data or "quotes" in data and "id" in data:
        return [data] if str(data.get("symbol", symbol)).upper() == symbol else []
    found = data.get(symbol) or data.get(symbol.lower())
    if found is None:
        found = [v for v in data.values() if isinstance(v, dict) and v.get("symbol") == symbol]
    if isinstance(found, dict):
        return [found]
    return [f for f in found or [] if isinstance(f, dict)]


def _first(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Symbols are not unique: take the best-ranked coin."""
    ranked = sorted(items, key=lambda i: (i.get("cmc_rank") is None, i.get("cmc_rank") or 0))
    return ranked[0] if ranked else None


def parse_quotes(data: Any, symbols: list[str]) -> list[Sample]:
    out = []
    for symbol in symbols:
        item = _first(_items(data, symbol))
        if item is None:
            continue
        usd = (item.get("quote") or {}).get("USD") or {}
        stamp = usd.get("last_updated") or item.get("last_updated")
        if not stamp:
            continue
        out.append(
            Sample(symbol, parse_time(stamp), num(usd.get("price")), num(usd.get("volume_24h")))
        )
    return out


def parse_ohlcv(data: Any, symbol: str, user_symbol: str) -> list[Bar]:
    item = _first(_items(data, symbol))
    if item is None:
        return []
    bars = []
    for q in item.get("quotes") or []:
        usd = (q.get("quote") or {}).get("USD") or {}
        if not q.get("time_open"):
            continue
        bars.append(
            Bar(
                symbol=user_symbol,
                timestamp=parse_time(q["time_open"]),
                open=num(usd.get("open")),
                high=num(usd.get("high")),
                low=num(usd.get("low")),
                close=num(usd.get("close")),
                volume=num(usd.get("volume")),
            )
        )
    return sorted(bars, key=lambda b: b.timestamp)
