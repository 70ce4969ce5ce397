"""The run's signal extractor (``--extractor NAME``, every strategy of the run), checked:
a plugin's extractor that breaks the contract (:mod:`stratequeue.engine.protocols`) is one
line naming the plugin, not a traceback from deep in the portfolio."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import plugins
from ..errors import PluginError, UsageError

if TYPE_CHECKING:
    from ..engine.protocols import SignalExtractor
    from ..ledger import Ledger

__all__ = ["CheckedExtractor", "choose_extractor", "same_extractor"]


class CheckedExtractor:
    """The registered extractor ``name``, with what it returns checked against the contract."""

    def __init__(self, name: str) -> None:
        registry = plugins.registry("signal_extractors")
        self.name = name.lower()
        self.inner: SignalExtractor[Any] = registry.get(name)()
        self.owner = registry.owners[self.name]

    def _broken(self, what: str, got: object, need: str) -> PluginError:
        return PluginError(
            f"Signal extractor '{self.name}' (plugin '{self.owner}'): {what} returned "
            f"{type(got).__name__}, not {need}. Fix the plugin, or run with --extractor "
            "backtesting."
        )

    def load(self, path: str | Path) -> Any:
        from ..engine import LoadedStrategy

        loaded = self.inner.load(path)
        if not isinstance(loaded, LoadedStrategy):
            raise self._broken("load()", loaded, "a stratequeue.engine.LoadedStrategy")
        return loaded

    def runner(self, loaded: Any, **options: Any) -> Any:
        from ..engine import StrategyRunner

        runner = self.inner.runner(loaded, **options)
        if not isinstance(runner, StrategyRunner):
            raise self._broken("runner()", runner, "a stratequeue.engine.StrategyRunner")
        return runner


def choose_extractor(name: str) -> CheckedExtractor:
    """The extractor registered as ``name``.

    Raises:
        PluginError: no such extractor; the message lists the installed ones.
    """
    return CheckedExtractor(name)


def same_extractor(ledger: Ledger, strategy_id: str, name: str) -> None:
    """Refuse to rebuild a strategy's books with another extractor than the one that kept them
    in this ledger: the same file read another way would replay its bars into another book.

    Raises:
        UsageError: naming both extractors and the fix.
    """
    key = f"extractor:{strategy_id}"
    kept = ledger.get_meta(key)
    if kept is None and any(row["strategy_id"] == strategy_id for row in ledger.sleeves()):
        kept = "backtesting"  # books kept before a run could choose its extractor
    if kept is not None and kept != name:
        raise UsageError(
            f"Strategy '{strategy_id}' traded in this ledger with the signal extractor "
            f"'{kept}'; this run asks for '{name}'. Run it with --extractor {kept}, or start a "
            "new ledger with --db."
        )
    if ledger.get_meta(key) is None:
        ledger.set_meta(key, name)
