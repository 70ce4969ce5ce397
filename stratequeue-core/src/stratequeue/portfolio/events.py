"""What the portfolio tells the display: signals, fills and rejections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Event", "FillEvent", "RejectEvent", "SignalEvent"]


@dataclass(frozen=True)
class SignalEvent:
    strategy_id: str
    symbol: str
    time: datetime
    action: str  # BUY, SELL, CLOSE, CANCEL
    price: float
    amount: float  # dollars the order commits, estimated at the signal's price
    share: float  # amount as a fraction of the strategy's capital on this symbol
    order_type: str = "market"
    detail: str = ""


@dataclass(frozen=True)
class FillEvent:
    symbol: str
    time: datetime
    side: str
    qty: float
    price: float
    client_order_id: str
    strategies: tuple[tuple[str, float], ...]  # (strategy id, signed qty)
    hypothetical: bool = False  # --no-trading: what the strategy's book assumes, not a broker fill


@dataclass(frozen=True)
class RejectEvent:
    symbol: str
    time: datetime
    client_order_id: str
    message: str
    strategies: tuple[str, ...] = ()


Event = SignalEvent | FillEvent | RejectEvent
