"""The strategy's book: backtesting.py's own ``_Broker``, grown by one bar at a time.

:class:`LiveBroker` changes nothing in how ``_Broker`` fills orders. It only adds what a
live run needs around it: an equity buffer that grows, a record of every fill (which order
caused it), order refs stamped at creation, and an ``external`` mode in which the book does
not fill orders itself but takes real fills through :meth:`LiveBroker.fill_external`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from math import copysign
from types import FrameType
from typing import Any

import numpy as np
from backtesting.backtesting import Order, Trade, _Broker

__all__ = ["FillEvent", "LiveBroker", "ref_of"]

_PROCESS_ORDERS = _Broker._process_orders.__code__
REF_ATTR = "_sq_ref"


def ref_of(obj: Order | Trade) -> str | None:
    """The StrateQueue ref stamped on a book order or trade (None if not stamped yet)."""
    return getattr(obj, REF_ATTR, None)


def set_ref(obj: Order | Trade, ref: str) -> None:
    setattr(obj, REF_ATTR, ref)


@dataclass
class FillEvent:
    """One raw fill inside the book, turned into an ``Execution`` once the bar is processed."""

    kind: str  # "open" | "close"
    order: Order | None
    trade: Trade
    size: float
    price: float
    time_index: int
    commission: float


class LiveBroker(_Broker):
    """``_Broker`` plus fill recording, creation-time refs, growable equity, external fills."""

    _equity: np.ndarray

    def setup_live(self, new_ref: Callable[[], str], *, external: bool = False) -> None:
        """Attach the live extras; also used on a plain ``_Broker`` after ``__class__`` swap."""
        self._sq_new_ref = new_ref
        self._sq_external = external
        self._sq_events: list[FillEvent] = []
        self._sq_active: Order | None = None

    # -- equity ------------------------------------------------------------------------
    def ensure_capacity(self, n: int) -> None:
        """Make ``_equity`` hold at least ``n`` bars (NaN where no broker step ran)."""
        if len(self._equity) < n:
            grown = np.full(max(n, 2 * len(self._equity), 64), np.nan)
            grown[: len(self._equity)] = self._equity
            self._equity = grown

    def next(self) -> None:
        self.ensure_capacity(len(self._data))
        super().next()

    def _process_orders(self) -> None:
        if not self._sq_external:
            super()._process_orders()

    @cached_property
    def _position_size(self) -> Any:
        if self._sq_external:  # real fills can be fractional (crypto)
            return sum(trade.size for trade in self.trades)
        return sum(int(trade.size) for trade in self.trades)

    # -- refs and fill recording ---------------------------------------------------------
    def new_order(self, *args: Any, **kwargs: Any) -> Order:
        order = super().new_order(*args, **kwargs)
        set_ref(order, self._sq_new_ref())
        return order

    def _causing_order(self) -> Order | None:
        """The order ``_process_orders`` is handling (its loop variable), if any."""
        frame: FrameType | None = sys._getframe(2)
        for _ in range(4):
            if frame is None:
                break
            if frame.f_code is _PROCESS_ORDERS:
                return frame.f_locals.get("order")
            frame = frame.f_back
        return self._sq_active

    def _open_trade(
        self, price: float, size: float, sl: Any, tp: Any, time_index: int, tag: Any
    ) -> None:
        order = self._causing_order()
        commission = self._commission(size, price)
        super()._open_trade(price, size, sl, tp, time_index, tag)
        trade = self.trades[-1]  # appended last; its SL/TP orders only name it as parent
        set_ref(trade, (ref_of(order) if order is not None else None) or self._sq_new_ref())
        self._sq_events.append(FillEvent("open", order, trade, size, price, time_index, commission))

    def _close_trade(self, trade: Trade, price: float, time_index: int) -> None:
        order = self._causing_order()
        commission = self._commission(trade.size, price)
        size = trade.size
        super()._close_trade(trade, price, time_index)
        self._sq_events.append(
            FillEvent("close", order, trade, size, price, time_index, commission)
        )

    def take_events(self) -> list[FillEvent]:
        events, self._sq_events = self._sq_events, []
        return events

    # -- external fills ------------------------------------------------------------------
    def fill_external(self, order: Order, qty: float, price: float, time_index: int) -> None:
        """Apply a real fill of ``qty`` units of ``order`` at ``price`` to the book.

        Stand-alone orders net FIFO against opposite trades (unless hedging) and open a trade
        with the order's SL/TP; contingent and ``Trade.close()`` orders reduce their trade.
        Fraction-sized orders are complete after their first fill.
        """
        qty = abs(qty)
        self._sq_active = order
        try:
            if order.parent_trade is not None:
                self._fill_trade_order(order, qty, price, time_index)
            else:
                self._fill_standalone(order, qty, price, time_index)
        finally:
            self._sq_active = None

    def _fill_trade_order(self, order: Order, qty: float, price: float, time_index: int) -> None:
        trade = order.parent_trade
        size = copysign(min(abs(trade.size), qty), order.size)
        if trade in self.trades:
            self._reduce_trade(trade, price, size, time_index)
        if order in self.orders and not order.is_contingent:
            left = order.size - size
            if trade not in self.trades or abs(left) < 1e-12:
                self.orders.remove(order)
            else:
                order._replace(size=left)

    def _fill_standalone(self, order: Order, qty: float, price: float, time_index: int) -> None:
        need = copysign(qty, order.size)
        if not self._hedging:
            for trade in list(self.trades):
                if trade.is_long == order.is_long:
                    continue
                if abs(need) >= abs(trade.size):
                    self._close_trade(trade, price, time_index)
                    need += trade.size
                else:
                    self._reduce_trade(trade, price, need, time_index)
                    need = 0
                if not need:
                    break
        if need:
            self._open_trade(price, need, order.sl, order.tp, time_index, order.tag)
        if order in self.orders:
            left = order.size - copysign(qty, order.size)
            if -1 < order.size < 1 or abs(left) < 1e-12 or left * order.size < 0:
                self.orders.remove(order)
            else:
                order._replace(size=left)
