"""The engine: runs unmodified backtesting.py strategies bar by bar, as Backtest.run would.

* :func:`load_strategy` finds the Strategy class in a file;
* :class:`StrategyRunner` turns closed bars into fills (:class:`Execution`) and order intents;
* :class:`BacktestingExtractor` is the built-in signal-extractor plugin.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extractor import BacktestingExtractor
    from .loader import LoadedStrategy, load_strategy
    from .lookback import default_lookback
    from .runner import StrategyRunner
    from .types import BacktestOptions, BarStep, Execution, FillResult

# Loading the plugin host must not import backtesting.py (and with it pandas and bokeh):
# names are resolved on first use.
_WHERE = {
    "BacktestingExtractor": "extractor",
    "LoadedStrategy": "loader",
    "load_strategy": "loader",
    "default_lookback": "lookback",
    "StrategyRunner": "runner",
    "BacktestOptions": "types",
    "BarStep": "types",
    "Execution": "types",
    "FillResult": "types",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
