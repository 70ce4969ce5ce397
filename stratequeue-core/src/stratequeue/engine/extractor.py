"""The built-in signal extractor for backtesting.py strategies, registered like a plugin."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import hookimpl
from ..hookspecs import Register

if TYPE_CHECKING:  # backtesting.py (and pandas, bokeh) load only when a strategy is run
    from .loader import LoadedStrategy
    from .runner import StrategyRunner
    from .types import BacktestOptions

__all__ = ["BacktestingExtractor", "register_signal_extractors"]


class BacktestingExtractor:
    """Loads backtesting.py strategy files and makes a :class:`StrategyRunner` per symbol."""

    name = "backtesting"

    def load(self, path: str | Path) -> LoadedStrategy:
        """The strategy class of the file at ``path``, with its ``LOOKBACK`` and fractional unit.

        Raises:
            StrategyLoadError: one line naming the file and the fix.
        """
        from .loader import load_strategy

        return load_strategy(path)

    def runner(
        self,
        loaded: LoadedStrategy,
        *,
        strategy_id: str,
        symbol: str,
        options: BacktestOptions | None = None,
        params: dict[str, Any] | None = None,
        fills: str = "book",
        times: Any = None,
    ) -> StrategyRunner:
        """A runner for one (strategy, symbol) sleeve: ``fills`` "book" (the paper broker's
        fill-time sizing) or "broker" (sizes at submission, real fills applied back)."""
        from .runner import StrategyRunner
        from .types import BacktestOptions

        return StrategyRunner(
            loaded.cls,
            strategy_id=strategy_id,
            symbol=symbol,
            options=options or BacktestOptions(),
            params=params,
            fills=fills,
            times=times,
            prepare=loaded.prepare_data,
        )


@hookimpl
def register_signal_extractors(register: Register) -> None:
    """The built-in ``backtesting`` extractor, registered as a plugin's would be."""
    register("backtesting", BacktestingExtractor)
