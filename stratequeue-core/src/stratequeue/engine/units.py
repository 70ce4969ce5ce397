"""Fractional units: a strategy trades whole multiples of a small unit (1e-8 BTC), as
``backtesting.lib.FractionalBacktest`` runs it.

FractionalBacktest multiplies Open/High/Low/Close by the unit and divides Volume by it, runs
an ordinary ``Backtest`` on that frame (so the strategy, its indicators and its book see
prices per unit and whole-unit sizes), then scales the ``_trades`` frame back: ``Size`` times
the unit, prices divided by it. :class:`Units` does the same at the runner's boundary: bars
and real fills are scaled in, executions, order prices and the trades frame scaled out. With
no unit every conversion is the identity (no float operation at all), so the plain path is
bit for bit what it was.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, overload

from ..errors import UsageError
from ..models import Bar, OrderIntent
from .types import Execution

if TYPE_CHECKING:  # strategies.txt is read before pandas is needed
    import pandas as pd

__all__ = ["Units", "check_unit"]

_PRICES = ("Open", "High", "Low", "Close")


def check_unit(value: object, where: str) -> float | None:
    """``value`` as a fractional unit (None: whole units); a one-line error otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError(f"{where}: fractional unit {value!r} must be a number such as 1e-8.")
    try:
        unit = float(value)
    except ValueError:
        raise UsageError(
            f"{where}: fractional unit '{value}' is not a number; write one such as 1e-8."
        ) from None
    if not math.isfinite(unit) or unit <= 0 or unit > 1:
        raise UsageError(
            f"{where}: fractional unit {value} must be greater than 0 and at most 1 "
            "(1e-8 trades whole satoshis of BTC)."
        )
    return unit


class Units:
    """Conversions between the book's terms (units of ``unit``, prices per unit) and real
    quantities and prices. ``unit=None``: the identity."""

    def __init__(self, unit: float | None) -> None:
        self.unit = unit

    # -- into the book ---------------------------------------------------------------------
    def bar(self, bar: Bar) -> Bar:
        u = self.unit
        if u is None:
            return bar
        return replace(
            bar,
            open=bar.open * u,
            high=bar.high * u,
            low=bar.low * u,
            close=bar.close * u,
            volume=bar.volume / u,
        )

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A history frame as FractionalBacktest hands it to ``Backtest``."""
        u = self.unit
        if u is None:
            return frame
        out = frame.copy(deep=False)
        for col in _PRICES:
            out[col] = out[col] * u
        out["Volume"] = out["Volume"] / u
        return out

    def to_units(self, qty: float) -> float:
        """A real quantity as book units: a whole number when it is one up to float noise
        (0.00123 BTC / 1e-8 = 122999.99999999999 is 123000 units); a real fill may also be a
        part of a unit, which the book (external fills) holds as it is."""
        u = self.unit
        if u is None:
            return qty
        units = qty / u
        whole = round(units)
        return float(whole) if abs(units - whole) <= 1e-9 * max(1.0, abs(units)) else units

    def book_price(self, price: float) -> float:
        return price if self.unit is None else price * self.unit

    # -- out of the book -------------------------------------------------------------------
    def qty(self, units: float) -> float:
        """Book units as the real quantity (what goes to a broker)."""
        return units if self.unit is None else units * self.unit

    @overload
    def price(self, price: float) -> float: ...
    @overload
    def price(self, price: None) -> None: ...
    @overload
    def price(self, price: float | None) -> float | None: ...
    def price(self, price: float | None) -> float | None:
        """A book price (per unit) as the real price."""
        if self.unit is None or price is None:
            return price
        return price / self.unit

    def execution(self, e: Execution) -> Execution:
        if self.unit is None:
            return e
        return replace(
            e,
            size=e.size * self.unit,
            price=e.price / self.unit,
            entry_price=self.price(e.entry_price),
            sl=self.price(e.sl),
            tp=self.price(e.tp),
        )

    def intent(self, intent: OrderIntent) -> OrderIntent:
        """Prices become real; the size stays in the book's terms (units of the fractional
        unit, or a fraction of the margin), so ``is_fraction`` keeps its meaning."""
        if self.unit is None:
            return intent
        return replace(
            intent,
            limit=self.price(intent.limit),
            stop=self.price(intent.stop),
            sl=self.price(intent.sl),
            tp=self.price(intent.tp),
            reference_price=self.price(intent.reference_price),
        )

    def intent_qty(self, intent: OrderIntent) -> float:
        """The signed real quantity of a unit-sized intent (a fraction stays a fraction)."""
        return intent.size if intent.is_fraction else self.qty(intent.size)

    def trades(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The closed-trades frame scaled back exactly as ``FractionalBacktest.run`` does."""
        u = self.unit
        if u is None:
            return frame
        frame["Size"] *= u
        frame[["EntryPrice", "ExitPrice", "TP", "SL"]] /= u
        return frame
