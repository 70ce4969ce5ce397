"""A sleeve's reference: ``Backtest.run`` on the bars its book saw, with its options and
capital, from the same warm start.

The warm start is what the run did when its warm-up ended: a replay (book-priced) kept the
backtest's state; a live or paper run started flat (the trades its backtest would hold were
dropped, its cash given back: ``engine/flatten.py``). A subclass of the strategy does that at
the end of the last warm-up bar, and applies the sleeve's allocation changes after the bars
they followed; nothing else differs from ``Backtest.run``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..app.extractors import choose_extractor
from ..data.base import bars_to_frame
from ..models import utc
from .sleeve import SleeveRecord

__all__ = ["RefTrade", "Reference", "run_reference"]


@dataclass(frozen=True)
class RefTrade:
    """One trade, live or backtest, in the terms compared (real quantities and prices)."""

    size: float
    entry_bar: int
    exit_bar: int | None
    entry_price: float
    exit_price: float | None
    pnl: float | None
    commission: float | None
    entry_time: datetime | None
    exit_time: datetime | None

    @property
    def closed(self) -> bool:
        return self.exit_bar is not None


@dataclass(frozen=True)
class Reference:
    """The backtest's trades that the live part of the run could have made (closed at or
    after the first live bar, then the ones still open), and its equity at every bar."""

    trades: list[RefTrade]
    equity: pd.Series
    pnl: float


def _flat_start(cls: Any, history: int, cash: float, capital: dict[int, float]) -> type:
    """``cls`` ending its warm-up flat at bar ``history`` and given ``capital[i]`` more cash
    after bar ``i``."""

    def next(self: Any) -> None:  # noqa: A001 - backtesting.py's name
        cls.next(self)
        i = len(self.data) - 1
        broker = self._broker
        if history and i == history - 1:
            for trade in list(broker.trades):
                for order in (trade._sl_order, trade._tp_order):
                    if order is not None and order in broker.orders:
                        broker.orders.remove(order)
                broker.trades.remove(trade)
            for order in list(broker.orders):
                if order.parent_trade is not None:
                    broker.orders.remove(order)
            broker._trades_cache_clear()
            broker._cash = cash
        if i in capital:
            broker._cash += capital[i]

    return type(cls.__name__, (cls,), {"next": next, "__module__": cls.__module__})


def run_reference(sleeve: SleeveRecord, bars: list[Any] | None = None) -> Reference:
    """``Backtest.run`` on ``bars`` (default: the sleeve's own) as the sleeve's run would."""
    from backtesting import Backtest
    from backtesting.lib import FractionalBacktest

    series = sleeve.bars if bars is None else bars
    frame = bars_to_frame(series)
    index = pd.DatetimeIndex(frame.index)
    capital: dict[int, float] = {}
    for after, amount in sleeve.capital_events:
        at = len(index) - 1 if after is None else int(index.searchsorted(after, side="right")) - 1
        capital[at] = capital.get(at, 0.0) + amount
    # the strategy as the run's extractor made it: its class, its parameters (a rule file's
    # numbers), and the columns its prepare_data adds (the matching backtest is
    # Backtest(prepare_data(df), S))
    extractor = choose_extractor(sleeve.extractor)
    loaded = extractor.load(sleeve.file)
    made = extractor.runner(loaded, strategy_id=sleeve.strategy_id, symbol=sleeve.symbol)
    cls, params = made.strategy_cls, made.params
    if loaded.prepare_data is not None:
        frame = loaded.prepare_data(frame)
    if sleeve.flattened or capital:
        cls = _flat_start(cls, sleeve.history if sleeve.flattened else 0, sleeve.capital, capital)
    kwargs: dict[str, Any] = {"cash": sleeve.capital, "finalize_trades": False, **sleeve.options}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if sleeve.fractional_unit is not None:
            bt: Any = FractionalBacktest(
                frame, cls, fractional_unit=sleeve.fractional_unit, **kwargs
            )
        else:
            bt = Backtest(frame, cls, **kwargs)
        stats = bt.run(**params)
    trades = []
    closed = stats._trades
    for row in closed.itertuples(index=False):
        if row.ExitBar < sleeve.history:
            continue  # closed during the warm-up: never live
        trades.append(
            RefTrade(
                float(row.Size),
                int(row.EntryBar),
                int(row.ExitBar),
                float(row.EntryPrice),
                float(row.ExitPrice),
                float(row.PnL),
                float(row.Commission),
                utc(index[int(row.EntryBar)].to_pydatetime()),
                utc(index[int(row.ExitBar)].to_pydatetime()),
            )
        )
    scale = sleeve.fractional_unit or 1.0
    for trade in stats._strategy._broker.trades:
        trades.append(
            RefTrade(
                float(trade.size) * scale,
                int(trade.entry_bar),
                None,
                float(trade.entry_price) / scale,
                None,
                None,
                None,
                utc(index[int(trade.entry_bar)].to_pydatetime()),
                None,
            )
        )
    equity = pd.Series(stats._equity_curve["Equity"].to_numpy(dtype=float), index=index)
    live = [t.pnl for t in trades if t.pnl is not None]
    return Reference(trades, equity, float(np.sum(live)) if live else 0.0)
