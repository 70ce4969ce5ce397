"""Symbols to IB contracts and back.

A plain symbol is a US stock routed by IB (``AAPL`` -> STK, SMART, USD). Other kinds are named
explicitly: ``FX:EURUSD`` is the currency pair (CASH on IDEALPRO); ``FUT:ES:202512:CME`` is a
future (root, contract month, exchange).
"""

from __future__ import annotations

from typing import Any

from stratequeue.errors import BrokerError

__all__ = ["contract_for", "symbol_of"]


def contract_for(symbol: str) -> Any:
    from ib_async import Forex, Future, Stock

    kind, _, rest = symbol.partition(":")
    if not rest:
        return Stock(symbol.upper(), "SMART", "USD")
    kind = kind.upper()
    if kind == "FX" and len(rest) == 6:
        return Forex(rest.upper())
    if kind == "FUT":
        parts = rest.split(":")
        if len(parts) == 3:
            root, month, exchange = parts
            return Future(root.upper(), month, exchange.upper())
    if kind == "STK":
        return Stock(rest.upper(), "SMART", "USD")
    raise BrokerError(
        f"IB cannot read the symbol {symbol!r}: write a US stock as AAPL, a currency pair as "
        "FX:EURUSD, a future as FUT:ES:202512:CME"
    )


def symbol_of(contract: Any) -> str:
    """How StrateQueue spells ``contract`` (a contract from a position or an execution)."""
    if contract.secType == "CASH":
        return f"FX:{contract.symbol}{contract.currency}"
    if contract.secType == "FUT":
        return f"FUT:{contract.symbol}:{contract.lastTradeDateOrContractMonth}:{contract.exchange}"
    return str(contract.symbol)
