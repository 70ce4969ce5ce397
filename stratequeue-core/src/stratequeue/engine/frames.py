"""The closed-trades table, built exactly as ``Backtest.run()._trades`` is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from backtesting.backtesting import Trade

__all__ = ["trades_frame"]


def trades_frame(trades: Sequence[Trade], strategy: Any | None) -> pd.DataFrame:
    """Rows per closed trade with backtesting's columns, dtypes and indicator columns.

    Same construction as backtesting's ``compute_stats`` (lists of the trades' own
    properties), so dtypes and values match ``_trades`` bit for bit.
    """
    frame = pd.DataFrame(
        {
            "Size": [t.size for t in trades],
            "EntryBar": [t.entry_bar for t in trades],
            "ExitBar": [t.exit_bar for t in trades],
            "EntryPrice": [t.entry_price for t in trades],
            "ExitPrice": [t.exit_price for t in trades],
            "SL": [t.sl for t in trades],
            "TP": [t.tp for t in trades],
            "PnL": [t.pl for t in trades],
            "Commission": [t._commissions for t in trades],
            "ReturnPct": [t.pl_pct for t in trades],
            "EntryTime": [t.entry_time for t in trades],
            "ExitTime": [t.exit_time for t in trades],
        }
    )
    frame["Duration"] = frame["ExitTime"] - frame["EntryTime"]
    frame["Tag"] = [t.tag for t in trades]
    if len(frame) and strategy is not None:
        entry_bars = frame["EntryBar"].values
        exit_bars = frame["ExitBar"].values
        for indicator in strategy._indicators:
            rows = np.atleast_2d(indicator)
            for i, values in enumerate(rows):
                suffix = f"_{i}" if len(rows) > 1 else ""
                frame[f"Entry_{indicator.name}{suffix}"] = values[entry_bars]
                frame[f"Exit_{indicator.name}{suffix}"] = values[exit_bars]
    return frame
