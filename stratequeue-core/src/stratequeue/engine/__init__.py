"""The engine: runs unmodified backtesting.py strategies bar by bar, as Backtest.run would.

* :func:`load_strategy` finds the Strategy class in a file;
* :class:`StrategyRunner` turns closed bars into fills (:class:`Execution`) and order intents;
* :class:`BacktestingExtractor` is the built-in signal-extractor plugin.
"""

from __future__ import annotations

from .extractor import BacktestingExtractor
from .loader import LoadedStrategy, load_strategy
from .lookback import default_lookback
from .runner import StrategyRunner
from .types import BacktestOptions, BarStep, Execution, FillResult

__all__ = [
    "BacktestOptions",
    "BacktestingExtractor",
    "BarStep",
    "Execution",
    "FillResult",
    "LoadedStrategy",
    "StrategyRunner",
    "default_lookback",
    "load_strategy",
]
