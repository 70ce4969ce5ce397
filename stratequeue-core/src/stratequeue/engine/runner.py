"""Run an unmodified backtesting.py Strategy bar by bar, deciding exactly as Backtest.run.

Design (see docs/reference "design C"): ONE persistent live strategy instance and
backtesting's own ``_Broker`` (:class:`~.book.LiveBroker`). Each closed bar:

1. the bar is appended to growable buffers behind a ``_Data`` (:mod:`.data`);
2. a throwaway shadow instance runs ``init()`` over all bars so far and its indicators move
   onto the live instance (:mod:`.shadow`);
3. until every indicator has a value, nothing else happens (Backtest.run's warm-up);
4. then exactly Backtest.run's loop body: ``broker.next()`` (fills at this bar), then
   ``strategy.next()``;
5. the book's order list is diffed into order intents (:mod:`.intents`).

Starting from a history (:meth:`warm_start`, :meth:`probe_lookahead`) is the
:class:`~.warmup.WarmStart` mixin.

``fills="book"`` lets the book fill orders with backtest semantics (paper trading, replay:
bit-exact). ``fills="external"`` leaves filling to a real broker: :meth:`apply_fill` and
:meth:`cancel_order` report what really happened so the strategy sees what it holds.

With ``BacktestOptions.fractional_unit`` the strategy runs as under ``FractionalBacktest``:
the book holds prices per unit and whole units (:mod:`.units`); everything the runner gives
out (executions, order prices, positions, the trades frame) and takes in (bars, real fills)
is in real quantities and prices. Intent sizes stay in the book's terms (units or a
fraction of the margin): :meth:`Units.intent_qty` gives the real quantity.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.backtesting import Order, Trade, _OutOfMoneyError

from ..errors import UsageError
from ..models import Bar, OrderIntent, utc
from .blame import strategy_code
from .book import FillEvent, LiveBroker, ref_of
from .data import COLUMNS, BarBuffer, LiveData
from .events import executions, fill_bar
from .frames import trades_frame
from .history import extend, window
from .intents import OrderTracker
from .lookback import default_lookback
from .shadow import (
    InitState,
    LookaheadCheck,
    _data_arrays,
    build_shadow,
    transfer,
    warmup_start,
)
from .times import UTC_VIEW, TimeView
from .types import BacktestOptions, BarStep, Execution, FillResult
from .units import Units, check_unit
from .warmup import WarmStart

__all__ = [
    "BacktestOptions",
    "BarStep",
    "Execution",
    "FillResult",
    "StrategyRunner",
    "default_lookback",
]

log = logging.getLogger(__name__)

FILL_MODES = ("book", "external")


class StrategyRunner(WarmStart):
    """One strategy on one symbol: bars in, fills and order intents out."""

    def __init__(
        self,
        strategy_cls: type[Strategy],
        *,
        strategy_id: str,
        symbol: str,
        options: BacktestOptions = BacktestOptions(),  # noqa: B008 - frozen
        params: dict[str, Any] | None = None,
        fills: str = "book",
        times: TimeView | None = None,
        prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
        settle_after: int | None = None,
    ) -> None:
        if fills not in FILL_MODES:
            raise UsageError(f"Unknown fill mode '{fills}'. Use one of: {', '.join(FILL_MODES)}.")
        for name in params or {}:
            if not hasattr(strategy_cls, name):
                raise UsageError(
                    f"Strategy {strategy_cls.__name__} has no parameter '{name}'. "
                    "Parameters are class attributes; define it in the class or drop it."
                )
        self.strategy_cls = strategy_cls
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.options = options
        self.units = Units(check_unit(options.fractional_unit, f"Strategy {strategy_id}"))
        self.params = dict(params or {})
        self.fills = fills
        #: how the strategy sees bar times (None: as the history's index; aware UTC without one)
        self.times = times
        #: the strategy file's ``prepare_data``: columns computed from the history every bar
        self.prepare = prepare
        #: bars after which an indicator still NaN everywhere counts as needing no warm-up
        #: (Backtest.run's rule for an all-NaN indicator); None: wait while one is all-NaN
        self.settle_after = settle_after
        self.inherited_trades: tuple[Trade, ...] = ()
        self._margin_warned = False
        self.warm_start_intents: list[OrderIntent] = []
        self._buffer: BarBuffer | None = None
        self._data: LiveData | None = None
        self._broker: LiveBroker | None = None
        self._live: Strategy | None = None
        self._start: int | None = None
        self._stopped = False
        self._tracker = OrderTracker(strategy_id, symbol)
        self._lookahead = LookaheadCheck(strategy_cls.__name__)
        self._init_state = InitState(strategy_cls.__name__)
        self._stamp_time: datetime | None = None
        self._stamp = ""
        self._seq = 0
        #: indicators from the last N bars only (MAX_HISTORY, --max-history): see history.py
        self.max_history: int | None = None

    # -- refs ----------------------------------------------------------------------------
    def _new_ref(self) -> str:
        if not self._stamp and self._stamp_time is not None:
            self._stamp = f"{self._stamp_time:%Y%m%dT%H%M%S}"
        self._seq += 1
        return f"{self._stamp}-{self._seq}"

    def _begin_bar(self, time: datetime) -> None:
        self._stamp_time, self._stamp, self._seq = time, "", 0

    # -- the bar loop --------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> BarStep:
        """Process one closed bar: the book fills, then ``strategy.next()`` decides."""
        if self._buffer is None:
            view = self.times = self.times or UTC_VIEW
            columns = (*COLUMNS, *(name for name, _ in bar.extra))
            self._setup(
                BarBuffer({c: np.dtype("float64") for c in columns}, view.dtype(), view=view)
            )
        assert self._buffer is not None
        self._buffer.append(self.units.bar(bar))
        return self._step(utc(bar.timestamp), emit=True)

    def _step(self, time: datetime, *, emit: bool) -> BarStep:
        data, broker = self._data, self._broker
        assert data is not None and broker is not None
        data._advance()
        n = len(data)
        i = n - 1
        self._begin_bar(time)
        if self._stopped:
            return BarStep(i, time, [], [], False)
        name = self.strategy_cls.__name__
        prepared = self._prepared(time)
        with strategy_code(name, "init()", time):
            if self._live is None:
                live = self._live = build_shadow(self.strategy_cls, broker, data, self.params)
                self._init_state.keep(live)
                moved = _data_arrays(live, n)
            else:
                live = self._live
                view = window(data, self.max_history)
                shadow = build_shadow(self.strategy_cls, broker, view, self.params)
                if view is data:
                    self._init_state.observe(shadow, n)
                    moved = transfer(shadow, live, n)
                else:  # init() state from a window differs by design: not observed
                    extend(shadow, live, len(view), n)
                    moved = []  # the look-ahead check needs the whole history
        self._lookahead.observe(prepared + moved if prepared else moved)
        if self._start is None:
            self._start = warmup_start(live, self._settled(n))
        if self._start is None or i < self._start:
            return BarStep(i, time, [], [], False)

        before = list(broker.orders)
        caught: list[warnings.WarningMessage] = []
        with np.errstate(invalid="ignore"):
            with strategy_code(name, "backtesting.py's broker, filling its orders", time):
                if before:  # only pending orders make the broker warn (margin cancels, SL/TP)
                    with warnings.catch_warnings(record=True) as caught:  # type: ignore[assignment]
                        warnings.simplefilter("always")
                        self._broker_next()
                else:
                    self._broker_next()
            events = broker.take_events()
            reasons = self._cancel_reasons(before, events, caught) if caught else {}
            if not self._stopped:
                with strategy_code(name, "next()", time):
                    live.next()
        if not emit:
            return BarStep(i, time, [], [], True)
        executions = self._executions(events)
        filled = {e.order_ref for e in executions}
        intents, _ = self._tracker.diff(
            broker.orders, filled, time, self._last_close(), self._new_ref
        )
        return BarStep(i, time, executions, self._real(intents), True, reasons)

    def _broker_next(self) -> None:
        assert self._broker is not None
        try:
            self._broker.next()
        except _OutOfMoneyError:
            self._stopped = True
            log.error(
                "Strategy %s on %s ran out of money at bar %s: all trades closed, "
                "no further decisions.",
                self.strategy_id,
                self.symbol,
                self._stamp_time,
            )

    def _cancel_reasons(
        self, before: list[Order], events: list[FillEvent], caught: Sequence[Any]
    ) -> dict[str, str]:
        margin = [str(w.message) for w in caught if "insufficient margin" in str(w.message)]
        for w in caught:
            if "insufficient margin" not in str(w.message):
                log.debug("backtesting: %s", w.message)
        if not margin:
            return {}
        assert self._broker is not None
        filled = {id(e.order) for e in events}
        still = {id(o) for o in self._broker.orders}
        reasons = {}
        for order in before:
            if id(order) not in still and id(order) not in filled and order.parent_trade is None:
                ref = ref_of(order) or "?"
                reasons[ref] = "insufficient margin"
                # Said once per runner (then logged at debug): a sleeve too small for one unit
                # of its symbol would otherwise repeat it on every signal.
                first = not self._margin_warned
                self._margin_warned = True
                log.log(
                    logging.WARNING if first else logging.DEBUG,
                    "Strategy %s on %s: the book canceled order %s (size %s) for insufficient "
                    "margin (%s).%s",
                    self.strategy_id,
                    self.symbol,
                    ref,
                    order.size,
                    margin[0],
                    " Further cancellations are logged with --verbose." if first else "",
                )
        return reasons

    def _executions(self, events: list[FillEvent], time: datetime | None = None) -> list[Execution]:
        """The book's fills in real quantities and prices."""
        assert self._buffer is not None
        found = executions(events, self._buffer, self._new_ref, time)
        return found if self.units.unit is None else [self.units.execution(e) for e in found]

    def _real(self, intents: list[OrderIntent]) -> list[OrderIntent]:
        return intents if self.units.unit is None else [self.units.intent(i) for i in intents]

    # -- external fills ------------------------------------------------------------------
    def _find(self, order_ref: str) -> Order:
        if self.fills != "external":
            raise UsageError(
                "apply_fill()/cancel_order() need StrategyRunner(..., fills='external')."
            )
        assert self._broker is not None
        for order in self._broker.orders:
            if ref_of(order) == order_ref:
                return order
        raise UsageError(
            f"No pending order '{order_ref}' in the book of strategy {self.strategy_id}."
        )

    def apply_fill(
        self, order_ref: str, qty: float, price: float, time: datetime | None = None
    ) -> FillResult:
        """Apply a real fill of ``qty`` (unsigned, real quantity) at real ``price`` to pending
        order ``order_ref`` (with a fractional unit: ``qty / unit`` units at ``price * unit``).

        The book nets it FIFO (unless hedging), opens a trade with the order's SL/TP as new
        contingent orders (returned as NEW intents), or reduces the trade of an SL/TP/close
        order (an OCO sibling becomes a CANCEL intent). The trade's entry bar is the last bar.
        """
        order = self._find(order_ref)
        broker, buffer = self._broker, self._buffer
        assert broker is not None and buffer is not None
        broker.fill_external(
            order, self.units.to_units(qty), self.units.book_price(price), fill_bar(buffer, time)
        )
        executions = self._executions(broker.take_events(), utc(time) if time else None)
        self._tracker.forget_changes(order)
        intents, _ = self._tracker.diff(
            broker.orders,
            {order_ref},
            self._stamp_time or buffer.utc_time(buffer.n - 1),
            self._last_close(),
            self._new_ref,
        )
        return FillResult(executions, self._real(intents))

    def cancel_order(self, order_ref: str, reason: str = "") -> None:
        """Remove an order the broker rejected or canceled, so the strategy no longer sees it."""
        order = self._find(order_ref)
        order.cancel()
        self._tracker.forget(order_ref)
        log.info(
            "Strategy %s: order %s removed from the book (%s).",
            self.strategy_id,
            order_ref,
            reason or "canceled by the broker",
        )

    # -- views ---------------------------------------------------------------------------
    def _last_close(self) -> float | None:
        buf = self._buffer
        return float(buf.column("Close")[buf.n - 1]) if buf is not None and buf.n else None

    @property
    def strategy(self) -> Strategy | None:
        """The live strategy instance (None before the first bar)."""
        return self._live

    @property
    def equity(self) -> float:
        return (
            float(self._broker.equity)
            if self._broker and self._buffer and self._buffer.n
            else self.options.cash
        )

    @property
    def buying_power(self) -> float:
        """What a fraction-sized order is a fraction of: the book's free margin times its
        leverage, as ``backtesting.py`` sizes one (the real broker's quantity, external fills)."""
        if self._broker is None:  # no bar yet: all of the cash is free (as _Broker computes it)
            return self.options.cash * (1 / self.options.margin)
        return self._broker.margin_available * self._broker._leverage

    @property
    def cash(self) -> float:
        return float(self._broker._cash) if self._broker else self.options.cash

    @property
    def position_size(self) -> float:
        """The real quantity held (units times the fractional unit)."""
        return self.units.qty(self._broker.position.size) if self._broker else 0

    @property
    def open_trades(self) -> tuple[Trade, ...]:
        return tuple(self._broker.trades) if self._broker else ()

    @property
    def closed_trades(self) -> tuple[Trade, ...]:
        return tuple(self._broker.closed_trades) if self._broker else ()

    @property
    def orders(self) -> tuple[Order, ...]:
        return tuple(self._broker.orders) if self._broker else ()

    def bar_time_utc(self, i: int) -> datetime:
        """Bar ``i``'s time, aware UTC (the strategy may see it in another zone)."""
        assert self._buffer is not None
        return self._buffer.utc_time(i)

    @property
    def bar_count(self) -> int:
        return self._buffer.n if self._buffer else 0

    @property
    def stopped(self) -> bool:
        """True after the book ran out of money (Backtest.run stops there too)."""
        return self._stopped

    def equity_curve(self) -> np.ndarray:
        """Equity recorded at each bar so far (NaN during warm-up), as ``_Broker._equity``."""
        if not self._broker or not self._buffer:
            return np.array([])
        self._broker.ensure_capacity(self._buffer.n)
        return self._broker._equity[: self._buffer.n].copy()

    def trades_frame(self) -> pd.DataFrame:
        """Closed trades exactly as ``Backtest(..., finalize_trades=False).run()._trades``
        (with a fractional unit: as ``FractionalBacktest``'s)."""
        return self.units.trades(trades_frame(self.closed_trades, self._live))
