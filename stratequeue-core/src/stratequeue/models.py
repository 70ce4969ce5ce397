"""Plain data that crosses the pipeline's stage boundaries.

data source --Bar--> engine --OrderIntent--> portfolio --BrokerOrder--> broker --Fill--> ledger

All timestamps are timezone-aware UTC. Quantities are floats (crypto trades fractions);
money is rounded where it is shown, never where it is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

__all__ = [
    "AccountInfo",
    "Bar",
    "BrokerOrder",
    "Fill",
    "IntentAction",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "Position",
    "Side",
    "utc",
]


def utc(ts: datetime) -> datetime:
    """Return ``ts`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed OHLCV bar; ``timestamp`` is the bar's start, as in the vendors' aggregates."""

    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = math.nan
    #: further columns of the bar's source (a CSV's market cap, features): ``(name, value)``
    #: pairs the strategy reads as ``self.data.<name>``; nothing else keeps them
    extra: tuple[tuple[str, float], ...] = ()

    def problem(self) -> str | None:
        """Why this bar must not reach a strategy, or None when it is sound."""
        prices = (self.open, self.high, self.low, self.close)
        if any(not isinstance(p, (int, float)) or math.isnan(p) for p in prices):
            return "a price is missing (NaN)"
        if any(p <= 0 or math.isinf(p) for p in prices):
            return "a price is not a positive number"
        if self.high < self.low:
            return f"high {self.high} is below low {self.low}"
        if not (self.low <= self.open <= self.high and self.low <= self.close <= self.high):
            return "open or close lies outside the high-low range"
        if self.timestamp.tzinfo is None:
            return "the timestamp has no timezone"
        return None


class Side(StrEnum):
    """Which way an order or a fill trades."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """How an order executes; a broker declares which it takes (``Capability``)."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class IntentAction(StrEnum):
    """What an order intent asks for."""

    NEW = "new"  # place an order
    CANCEL = "cancel"  # cancel a pending order
    REPLACE = "replace"  # change a pending order's prices (trade.sl / trade.tp edits)


class OrderStatus(StrEnum):
    """Where an order is, as the ledger and the brokers' answers (``OrderAck``) say."""

    PENDING = "pending"  # written to the ledger, not yet acknowledged by the broker
    #: sent, but the broker's answer was lost (a timeout, or a duplicate id it could not show):
    #: the broker may hold it, so it is open until a poll or the next start finds out
    UNKNOWN = "unknown"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        return self in (
            OrderStatus.PENDING,
            OrderStatus.UNKNOWN,
            OrderStatus.ACCEPTED,
            OrderStatus.PARTIALLY_FILLED,
        )


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy asked for at a bar, in backtesting.py's own terms.

    ``size`` keeps backtesting.py's meaning: ``0 < |size| < 1`` is a fraction of the strategy's
    available margin (sized at fill time), otherwise whole units. The sign is the direction.
    ``ref`` identifies the strategy's order across bars (for cancels and replaces);
    ``parent_ref`` links an SL/TP order to the trade it protects.
    """

    strategy_id: str
    symbol: str
    bar_time: datetime
    ref: str
    action: IntentAction
    size: float = 0.0
    order_type: OrderType = OrderType.MARKET
    limit: float | None = None
    stop: float | None = None
    sl: float | None = None
    tp: float | None = None
    tag: str | None = None
    parent_ref: str | None = None
    reference_price: float | None = None  # last close when the intent was made

    @property
    def side(self) -> Side:
        return Side.BUY if self.size > 0 else Side.SELL

    @property
    def is_fraction(self) -> bool:
        return 0 < abs(self.size) < 1


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as sent to a broker: always a positive quantity (or notional) and a side."""

    client_order_id: str
    symbol: str
    side: Side
    qty: float | None
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    notional: float | None = None
    time_in_force: str = "day"
    take_profit: float | None = None
    stop_loss: float | None = None
    trail_percent: float | None = None
    #: "simple"; "bracket"/"oto" (an entry with take_profit/stop_loss attached); "oco" (a
    #: trade's exit pair: a take-profit limit and a stop loss, one cancels the other); in the
    #: ledger only, "leg": a bracket's leg ``<entry cid>/sl|tp``, placed with its entry
    order_class: str = "simple"


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution reported by a broker (a partial fill is one Fill of several)."""

    client_order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    timestamp: datetime
    commission: float = 0.0
    #: the broker's own id of this execution (never one StrateQueue makes up)
    execution_id: str = ""
    #: the order's cumulative filled quantity after this execution, as the broker reports it:
    #: what lets one execution seen by two sources (stream and poll, or the runs before and
    #: after a restart) be booked once even when they name it differently
    cum_qty: float | None = None

    @property
    def signed_qty(self) -> float:
        return self.qty if self.side is Side.BUY else -self.qty


@dataclass(frozen=True, slots=True)
class Position:
    """A holding of the account: signed quantity, average price, last market price."""

    symbol: str
    qty: float  # signed: negative is short
    avg_price: float
    market_price: float | None = None

    @property
    def market_value(self) -> float:
        return self.qty * (self.market_price if self.market_price is not None else self.avg_price)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """A broker account: cash, equity (cash plus positions at market), buying power,
    positions, and ``mode`` ("paper" or "live")."""

    account_id: str
    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"
    positions: tuple[Position, ...] = field(default_factory=tuple)
    mode: str = "paper"
