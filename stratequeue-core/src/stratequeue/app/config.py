"""What a run is asked to do: a plain, typed, validated configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import plugins
from ..errors import UsageError
from ..portfolio.config import StrategySpec

__all__ = ["MODES", "RunConfig", "replays"]

MODES = ("paper", "live", "signals")
_CHOICES = {"rebalance": ("keep", "close"), "on_exit": ("keep", "cancel", "flatten")}


def replays(data_source: str) -> bool:
    """Whether a run over ``data_source`` is a replay: what its class declares
    (:attr:`BaseDataSource.historical`), never a guess from its name."""
    return bool(plugins.registry("data_sources").get(data_source).historical)


@dataclass(frozen=True)
class RunConfig:
    """One run. ``replay``: the bars are recorded, not live (no future-time check, no stale-feed
    watcher; with a book-priced broker the warm-up's trades are adopted and its P&L deposited).
    ``duration`` in minutes; ``cash`` is the paper broker's starting cash; ``broker_options``,
    ``data_options`` and ``backtest_options`` go to the broker plugin, the data source and
    backtesting.py (commission, spread, ...); ``stale_after``: granularity periods without a
    bar before a symbol's trading pauses (0: never); ``risk``: a
    :class:`stratequeue.risk.RiskConfig` or None. ``fractional_unit``: every strategy trades
    whole multiples of it (``FractionalBacktest``) unless its strategies.txt line names its
    own; None: each strategy file's ``FRACTIONAL_UNIT``, else whole units. ``extractor``: the
    signal extractor (a ``register_signal_extractors`` name) that loads every strategy file."""

    strategies: Sequence[StrategySpec]
    symbols: Sequence[str]
    data_source: str = "demo"
    granularity: str = "1m"
    mode: str = "paper"
    broker: str | None = None
    broker_options: Mapping[str, Any] = field(default_factory=dict)
    duration: float | None = None
    lookback: int | None = None
    db: Path | str = ":memory:"
    cash: float = 100_000.0
    backtest_options: Mapping[str, Any] = field(default_factory=dict)
    fractional_unit: float | None = None
    #: IANA zone whose naive wall times strategies see as bar times (``--timezone``); None:
    #: each strategy file's ``TIMEZONE``, else aware UTC (a CSV replay: the file's own dates)
    timezone: str | None = None
    data_options: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    replay: bool = False
    rebalance: str = "keep"
    risk: Any = None
    on_exit: str = "keep"
    stale_after: int = 3
    extractor: str = "backtesting"
    #: where runners run (stratequeue.executors): auto, inline, process or ray
    executor: str = "auto"
    #: worker processes or Ray actors (None: one per core, or the cluster's CPUs)
    workers: int | None = None
    #: the Ray cluster to join (None: RAY_ADDRESS, else a local Ray instance)
    ray_address: str | None = None
    #: bars each runner keeps for its indicators (None: all, or the file's MAX_HISTORY)
    max_history: int | None = None
    #: seconds a live run waits for the rest of a moment (its other symbols' bars of one
    #: time) before stepping what came; None: a twentieth of the bar interval, at most 1 s;
    #: 0: no gathering (stratequeue.app.live_feed says what the wait trades)
    gather: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategies", tuple(self.strategies))
        object.__setattr__(self, "symbols", tuple(self.symbols))
        if not self.strategies:
            raise UsageError("A run needs at least one strategy: give RunConfig(strategies=...).")
        if not self.symbols:
            raise UsageError("A run needs at least one symbol: give RunConfig(symbols=...).")
        if self.mode not in MODES:
            raise UsageError(f"Unknown mode '{self.mode}': use one of {', '.join(MODES)}.")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise UsageError(
                    f"Unknown {name} '{getattr(self, name)}': use one of {', '.join(choices)}."
                )
        if self.replay and self.mode == "live":
            raise UsageError(
                f"'{self.data_source}' replays recorded bars: it cannot trade real money. "
                "Drop --live (paper replays them), or use a live data source."
            )
        if self.duration is not None and self.duration <= 0:
            raise UsageError(f"duration {self.duration:g} min: give a positive number or None.")
        if self.lookback is not None and self.lookback < 0:
            raise UsageError(f"lookback {self.lookback}: give a number of bars >= 0 or None.")
        if self.cash <= 0:
            raise UsageError(f"cash {self.cash:g}: give a positive amount.")
        if self.timezone is not None:
            from ..engine.times import zone_view

            zone_view(self.timezone, "--timezone")
        plugins.registry("signal_extractors").get(self.extractor)  # unknown: one line, exit 2
        from ..executors import EXECUTORS

        if self.executor not in EXECUTORS:
            raise UsageError(
                f"Unknown executor '{self.executor}': use one of {', '.join(EXECUTORS)}."
            )
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"workers {self.workers}: give 1 or more (or None: one per core).")
        if self.max_history is not None and self.max_history < 1:
            raise UsageError(f"max_history {self.max_history}: give 1 or more bars (or None).")
        if self.gather is not None and self.gather < 0:
            raise UsageError(f"gather {self.gather:g} s: give seconds >= 0 (or None: derived).")
        if self.stale_after < 0:
            raise UsageError(f"stale_after {self.stale_after}: give periods >= 0 (0: never).")
