"""Warm start: the history a runner starts from, checked and adopted (mixin of the runner).

:class:`WarmStart` holds the part of :class:`~.runner.StrategyRunner` that turns a history
frame into the runner's starting state: the frame's schema and time view, the look-ahead
probe, the strategy file's ``prepare_data`` columns, and the state ``Backtest.run`` has after
the last history bar (adopted, or replayed bar by bar through the live path).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.backtesting import Trade

from ..errors import UsageError
from ..models import OrderIntent
from .adopt import run_history
from .blame import strategy_code
from .book import LiveBroker, set_ref
from .data import COLUMNS, BarBuffer, LiveData, utc_nanos
from .intents import OrderTracker
from .shadow import (
    InitState,
    LookaheadCheck,
    _data_arrays,
    build_shadow,
    probe_lookahead,
    warmup_start,
)
from .times import TimeView
from .types import BacktestOptions, BarStep
from .units import Units

__all__ = ["WarmStart"]


class WarmStart:
    """The warm-start and data-schema methods of :class:`~.runner.StrategyRunner`."""

    # set by StrategyRunner.__init__ (and the bar loop): declared here for the type checker
    strategy_cls: type[Strategy]
    strategy_id: str
    options: BacktestOptions
    units: Units
    params: dict[str, Any]
    fills: str
    times: TimeView | None
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None
    settle_after: int | None
    inherited_trades: tuple[Trade, ...]
    warm_start_intents: list[OrderIntent]
    _buffer: BarBuffer | None
    _data: LiveData | None
    _broker: LiveBroker | None
    _live: Strategy | None
    _start: int | None
    _stopped: bool
    _tracker: OrderTracker
    _lookahead: LookaheadCheck
    _init_state: InitState
    # methods of StrategyRunner used here
    _new_ref: Callable[[], str]
    _begin_bar: Callable[[datetime], None]
    _step: Callable[..., BarStep]
    _real: Callable[[list[OrderIntent]], list[OrderIntent]]
    _last_close: Callable[[], float | None]

    def _setup(self, buffer: BarBuffer) -> None:
        self._buffer = buffer
        self._data = LiveData(buffer)
        broker = LiveBroker(data=self._data, index=pd.Index([]), **self.options.kwargs())
        broker.setup_live(self._new_ref, external=self.fills == "external")
        self._broker = broker

    def _schema_from(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """History as the strategy sees it (OHLCV first, then every other column; the index
        in the runner's time view), and each row's UTC time in nanoseconds."""
        if len(frame) and frame[list(COLUMNS[:4])].isna().to_numpy().any():
            raise UsageError("History has missing (NaN) prices; drop or fill those rows first.")
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise UsageError(
                f"History must have a DatetimeIndex (got {type(frame.index).__name__}); "
                "set the bar times as the index."
            )
        utc_ns = utc_nanos(frame.index)
        if len(utc_ns) and not (np.diff(utc_ns) > 0).all():
            raise UsageError("History index must be strictly increasing bar times.")
        columns = [c for c in COLUMNS if c in frame.columns]
        out = frame[columns + [c for c in frame.columns if c not in COLUMNS]].copy()
        if "Volume" not in out:
            out.insert(4, "Volume", np.nan)
        if self.times is None:
            self.times = TimeView.of(frame.index)
        else:
            out.index = self.times.present(frame.index).rename(frame.index.name)
        return out, utc_ns

    def warm_start(self, history: pd.DataFrame, *, replay: bool = False) -> None:
        """Reach the state Backtest.run has after the last history bar, emitting no intents.

        By default the state is adopted from ``Backtest.run(history)`` (fast); with
        ``replay=True`` the bars are run one by one through the live path (slow, same state).
        An empty history only fixes the index dtype and column dtypes.
        """
        if self._buffer is not None:
            raise UsageError("warm_start() must come before the first on_bar() and only once.")
        schema, utc_ns = self._schema_from(history)
        if len(schema):
            self.probe_lookahead(schema)
        frame = self.units.frame(schema)
        full = BarBuffer.from_frame(frame, utc_ns, self.times)
        n = full.n
        if replay:
            self._setup(full.empty_like())
            buffer = self._buffer
            assert buffer is not None
            rows = frame[list(COLUMNS)].to_numpy(dtype=object)
            extra = list(full.columns[5:])
            extras = frame[extra].to_numpy(dtype=object) if extra else None
            for i in range(n):
                pairs = tuple(zip(extra, extras[i], strict=True)) if extras is not None else ()
                buffer.append_raw(int(full._times[i]), tuple(rows[i]), int(full._utc[i]), pairs)
                self._step(full.utc_time(i), emit=False)
        else:
            self._setup(full)
            if n:
                last = full.utc_time(n - 1)
                self._begin_bar(last)
                name = self.strategy_cls.__name__
                prepared = self._prepared(last)
                with strategy_code(name, "init()", last):
                    live = build_shadow(self.strategy_cls, self._broker, self._data, self.params)
                self._init_state.keep(live)
                start = warmup_start(live, self._settled(n))
                if start is not None and start < n:
                    with strategy_code(name, "Backtest.run over the history", last):
                        self._adopt(self._data.df if prepared else frame, start)  # type: ignore[union-attr]
                else:
                    self._live, self._start = live, start
                # the fresh instance's arrays: the adopted one's next() may have written into its
                self._lookahead.observe(prepared + _data_arrays(live, n))
        if n:
            self._finish_warm_start(full.utc_time(n - 1))

    def probe_lookahead(self, history: pd.DataFrame) -> None:
        """Warn, before any decision, of arrays set in ``init()`` (indicators, the
        ``prepare_data`` columns) that look ahead: computed on the first bars of ``history``
        they differ from the same bars computed on all of it (``warm_start`` does this on its
        history; a run from the first bar passes a sample)."""
        frame = self.units.frame(self._schema_from_sample(history))
        name = self.strategy_cls.__name__

        def build(part: pd.DataFrame) -> tuple[Strategy, int]:
            data = LiveData(BarBuffer.from_frame(part))
            broker = LiveBroker(data=data, index=pd.Index([]), **self.options.kwargs())
            broker.setup_live(lambda: "probe")
            data._set_length(len(part))
            extra: list[tuple[str, Any]] = []
            if self.prepare is not None:
                with strategy_code(name, "prepare_data()"):
                    extra = [
                        (f"prepare_data()['{c}']", v)
                        for c, v in data.install(self.prepare(data.df.copy()))
                    ]
            with strategy_code(name, "init()"):
                shadow = build_shadow(self.strategy_cls, broker, data, self.params)
            for key, value in extra:
                shadow.__dict__[key] = value  # checked with the indicators
            return shadow, len(part)

        probe_lookahead(self._lookahead, build, frame)

    def _schema_from_sample(self, frame: pd.DataFrame) -> pd.DataFrame:
        times = self.times
        try:
            return self._schema_from(frame)[0]
        finally:
            self.times = times

    def _settled(self, n: int) -> bool:
        return self.settle_after is not None and n >= self.settle_after

    def _prepared(self, time: datetime) -> list[tuple[str, Any]]:
        """The strategy file's ``prepare_data`` applied to the bars so far, as this bar's
        ``self.data.df``; the columns it added, named for the look-ahead check."""
        if self.prepare is None:
            return []
        data = self._data
        assert data is not None
        frame = data._buffer.frame(len(data))
        with strategy_code(self.strategy_cls.__name__, "prepare_data()", time):
            out = self.prepare(frame.copy())
        if not isinstance(out, pd.DataFrame) or not out.index.equals(frame.index):
            raise UsageError(
                f"prepare_data() of strategy {self.strategy_id} must return the DataFrame it "
                f"was given with columns added, one row per bar ({len(frame)} rows given, "
                f"{len(out) if isinstance(out, pd.DataFrame) else type(out).__name__} returned)."
                " Drop no rows: leave NaN where a value is not known yet."
            )
        return [(f"prepare_data()['{c}']", v) for c, v in data.install(out)]

    def _adopt(self, frame: pd.DataFrame, start: int) -> None:
        strategy, ruined = run_history(frame, self.strategy_cls, self.options, self.params)
        broker = strategy._broker
        broker.__class__ = LiveBroker
        assert isinstance(broker, LiveBroker)
        broker.setup_live(self._new_ref, external=self.fills == "external")
        broker._data = self._data
        strategy._data = self._data
        self._broker, self._live, self._start, self._stopped = broker, strategy, start, ruined

    def _finish_warm_start(self, last_time: datetime) -> None:
        broker = self._broker
        assert broker is not None and self._buffer is not None
        self._begin_bar(last_time)
        buffer = self._buffer
        for k, trade in enumerate(broker.trades):
            set_ref(trade, f"{buffer.utc_time(trade.entry_bar):%Y%m%dT%H%M%S}-t{k + 1}")
        self._tracker.adopt(list(broker.orders), self._new_ref)
        self.inherited_trades = tuple(broker.trades)
        self.warm_start_intents = self._real(self._tracker.pending(last_time, self._last_close()))
