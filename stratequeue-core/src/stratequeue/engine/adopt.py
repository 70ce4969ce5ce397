"""Fast warm start: run ``Backtest`` over the history and adopt its strategy and book.

``Backtest(history, S, finalize_trades=False).run()`` leaves the strategy instance, its
``_Broker`` and every open trade and pending order exactly where a bar-by-bar live run over
the same bars would (for causal indicators). Its ``_strategy`` result is that instance; the
runner swaps in its own growable data and broker class and carries on.
"""

from __future__ import annotations

import warnings
from typing import Any

import backtesting.backtesting as bt_module
import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy

from .types import BacktestOptions

__all__ = ["run_history"]


def _no_progress(seq: Any, **_: Any) -> Any:
    return seq


def run_history(
    frame: pd.DataFrame, cls: type[Strategy], options: BacktestOptions, params: dict[str, Any]
) -> tuple[Strategy, bool]:
    """The strategy instance after ``Backtest.run`` on ``frame``, and whether it ran out of money."""
    progress = bt_module._tqdm
    bt_module._tqdm = _no_progress  # quiet even when tqdm is installed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = Backtest(frame, cls, finalize_trades=False, **options.kwargs()).run(**params)
    finally:
        bt_module._tqdm = progress
    strategy: Strategy = stats["_strategy"]
    equity = strategy._broker._equity
    seen = equity[~np.isnan(equity)]
    return strategy, bool(len(seen) and (seen <= 0).any())
