"""The toy signal extractor, ``--extractor toy``: strategies written as a band rule file
instead of a backtesting.py class (see ``rules/band.toml``).

A rule file is TOML with three numbers: buy ``size`` units with a market order when a bar
closes at or below ``buy_below`` (while flat), sell them all when a bar closes at or above
``sell_above``; and optionally ``lookback``, the history bars a live run warms up on.
:meth:`ToyRuleExtractor.load` reads it into a :class:`~stratequeue_toy.rule.RuleFile`;
:meth:`ToyRuleExtractor.runner` runs it as StrateQueue runs every strategy: a
backtesting.py ``Strategy`` (:class:`~stratequeue_toy.rule.BandRule`, the rule's numbers as
its parameters) in a ``StrategyRunner``, so the orders it implies are sized, sent, filled and
booked as any strategy's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # backtesting.py (and pandas) load when a run uses the extractor, not before
    from stratequeue.engine import BacktestOptions, StrategyRunner

    from .rule import RuleFile

__all__ = ["ToyRuleExtractor"]


class ToyRuleExtractor:
    """Band rule files (TOML) as strategies."""

    name = "toy"

    def load(self, path: str | Path) -> RuleFile:
        """The rule in the file at ``path``.

        Raises:
            StrategyLoadError: not TOML, a number missing or out of range; one line naming
                the file and the fix.
        """
        from .rule import read_rule

        return read_rule(Path(path))

    def runner(
        self,
        loaded: RuleFile,
        *,
        strategy_id: str,
        symbol: str,
        options: BacktestOptions | None = None,
        params: dict[str, Any] | None = None,
        fills: str = "book",
        times: Any = None,
    ) -> StrategyRunner:
        """A runner of the rule for one (strategy, symbol) sleeve."""
        from stratequeue.engine import BacktestOptions, StrategyRunner

        return StrategyRunner(
            loaded.cls,
            strategy_id=strategy_id,
            symbol=symbol,
            options=options or BacktestOptions(),
            params={**loaded.params, **(params or {})},
            fills=fills,
            times=times,
        )


if TYPE_CHECKING:  # mypy checks the extractor against the contract the core runs
    from stratequeue.engine.protocols import SignalExtractor

    _contract: SignalExtractor[RuleFile] = ToyRuleExtractor()
