"""What a run asks of a signal extractor (``register_signal_extractors``), as a type.

An extractor turns a strategy file of its own format into what the engine runs: a
backtesting.py ``Strategy`` class (in a :class:`~.loader.LoadedStrategy`) and, per (strategy,
symbol) sleeve, a :class:`~.runner.StrategyRunner` around it. The runner is the concrete class,
not an interface: the portfolio keeps each sleeve's book in backtesting.py's broker and edits
it directly (closing positions, dropping refused orders, sizing broker orders, rebalancing:
:mod:`.flatten`, :mod:`stratequeue.portfolio.sizing`), so a runner of another kind could not
be driven. What a run reads of ``load``'s result: ``lookback`` (or, when None, ``cls``,
``path`` and ``prepare_data`` for the measured warm-up), ``fractional_unit`` and
``timezone``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from .loader import LoadedStrategy
    from .runner import StrategyRunner
    from .types import BacktestOptions

__all__ = ["SignalExtractor"]

L = TypeVar("L", bound="LoadedStrategy")


class SignalExtractor(Protocol[L]):
    """A signal extractor: the class a plugin registers, built with no arguments per run.

    ``L`` is what :meth:`load` returns and :meth:`runner` takes back: a
    :class:`~stratequeue.engine.loader.LoadedStrategy` or a subclass carrying more (the
    toy plugin's rule parameters, for one).
    """

    #: the name users pass to ``--extractor`` (the one it is registered under)
    name: str

    def load(self, path: str | Path) -> L:
        """Read the strategy file at ``path`` (once per run and strategy).

        Raises:
            StrategyLoadError: the file cannot be used; one line naming the file and the fix.
        """
        ...

    def runner(
        self,
        loaded: L,
        *,
        strategy_id: str,
        symbol: str,
        options: BacktestOptions | None = None,
        params: dict[str, Any] | None = None,
        fills: str = "book",
        times: Any = None,
    ) -> StrategyRunner:
        """A fresh runner for one (strategy, symbol) sleeve of ``loaded``, with the sleeve's
        ``options`` (cash, commission, fractional unit...), ``fills`` mode ("book": the book
        fills with backtest semantics; "external": a real broker's fills are applied back) and
        ``times`` (a :class:`~stratequeue.engine.times.TimeView`: how the strategy sees bar
        times; pass it on to the runner). The run warms it up or rebuilds it from the ledger,
        then feeds it bars."""
        ...
