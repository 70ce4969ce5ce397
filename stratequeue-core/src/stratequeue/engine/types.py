"""The runner's plain results: options, one fill, one bar step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..models import OrderIntent

__all__ = ["BacktestOptions", "BarStep", "Execution", "FillResult"]


@dataclass(frozen=True)
class BacktestOptions:
    """``Backtest(...)`` keyword arguments that shape the book (see backtesting's docs).

    ``fractional_unit`` (e.g. ``1e-8`` for BTC): the strategy runs as under
    ``backtesting.lib.FractionalBacktest(..., fractional_unit=...)``: its book trades whole
    multiples of that unit at prices per unit (see :mod:`.units`). None: whole units.
    """

    cash: float = 10_000.0
    commission: float | tuple[float, float] = 0.0
    spread: float = 0.0
    margin: float = 1.0
    trade_on_close: bool = False
    hedging: bool = False
    exclusive_orders: bool = False
    fractional_unit: float | None = None

    def kwargs(self) -> dict[str, Any]:
        """As keyword arguments for ``Backtest`` and ``_Broker`` (the fractional unit is the
        runner's: it scales the data, not the broker)."""
        return {
            "cash": self.cash,
            "commission": self.commission,
            "spread": self.spread,
            "margin": self.margin,
            "trade_on_close": self.trade_on_close,
            "hedging": self.hedging,
            "exclusive_orders": self.exclusive_orders,
        }


@dataclass(frozen=True)
class Execution:
    """One fill the strategy's book made: a trade (piece) opened or closed.

    ``size`` is the signed size of the trade piece (as in ``_trades.Size``); the traded
    quantity is ``fill_qty`` (negative of ``size`` for a close). ``order_ref`` is the order
    that caused the fill (for SL/TP the contingent order's ref; ``liquidation`` when the book
    ran out of money). Close fields are None for opens.
    """

    kind: str  # "open" | "close"
    order_ref: str
    trade_ref: str
    size: float
    price: float
    bar_index: int
    time: datetime
    commission: float
    entry_price: float | None = None
    entry_bar: int | None = None
    entry_time: datetime | None = None
    pnl: float | None = None
    sl: float | None = None
    tp: float | None = None
    tag: Any = None
    trade_commission: float | None = None  # closes: the closed piece's entry + exit commission
    return_pct: float | None = None  # closes: backtesting's ReturnPct

    @property
    def fill_qty(self) -> float:
        """Signed units bought (+) or sold (-) by this fill."""
        return self.size if self.kind == "open" else -self.size


@dataclass(frozen=True)
class BarStep:
    """What one closed bar did: the book's fills, then the strategy's order changes."""

    bar_index: int
    time: datetime
    executions: list[Execution]
    intents: list[OrderIntent]
    traded: bool  # False while indicators warm up (next() not called) or after ruin
    cancel_reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FillResult:
    """What an external fill did to the book: its executions and the resulting intents
    (new SL/TP orders of an opened trade, OCO cancels of a closed one)."""

    executions: list[Execution]
    intents: list[OrderIntent]
