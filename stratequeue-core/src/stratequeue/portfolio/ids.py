"""Deterministic client order ids.

An id is derived from the ledger, the strategy, the symbol and the strategy's order reference
(itself derived from the bar time and the order's place in that bar), so re-deriving the same
intent after a retry or a restart yields the same id and finds the order already placed.
At most 32 characters: within every broker's limit (Alpaca allows 128).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["client_order_id", "netted_order_id"]


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def client_order_id(ledger_id: str, strategy_id: str, symbol: str, ref: str) -> str:
    """The id of one strategy's own order."""
    return f"sq-{ledger_id}-{_digest(strategy_id, symbol, ref)}"


def netted_order_id(ledger_id: str, symbol: str, legs: Iterable[tuple[str, str]]) -> str:
    """The id of the one order that nets several strategies' orders (strategy, ref) in a bar."""
    return f"sq-{ledger_id}-n{_digest(symbol, *sorted(f'{s}:{r}' for s, r in legs))[:15]}"
