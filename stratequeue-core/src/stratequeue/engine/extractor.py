"""The built-in signal extractor for backtesting.py strategies, registered like a plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import hookimpl
from ..hookspecs import Register
from .loader import LoadedStrategy, load_strategy
from .runner import StrategyRunner
from .types import BacktestOptions

__all__ = ["BacktestingExtractor", "register_signal_extractors"]


class BacktestingExtractor:
    """Loads backtesting.py strategy files and makes a :class:`StrategyRunner` per symbol."""

    name = "backtesting"

    def load(self, path: str | Path) -> LoadedStrategy:
        return load_strategy(path)

    def runner(
        self,
        loaded: LoadedStrategy,
        *,
        strategy_id: str,
        symbol: str,
        options: BacktestOptions = BacktestOptions(),  # noqa: B008 - frozen
        params: dict[str, Any] | None = None,
        fills: str = "book",
    ) -> StrategyRunner:
        return StrategyRunner(
            loaded.cls,
            strategy_id=strategy_id,
            symbol=symbol,
            options=options,
            params=params,
            fills=fills,
        )


@hookimpl
def register_signal_extractors(register: Register) -> None:
    register("backtesting", BacktestingExtractor)
