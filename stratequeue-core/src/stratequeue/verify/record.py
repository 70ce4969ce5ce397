"""What a run writes at its start so that ``stratequeue verify`` can re-run its backtests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ledger import Ledger
from ..ledger.verification import file_sha256

__all__ = ["record_run", "strategy_params"]

_SIMPLE = (int, float, str, bool, type(None))


def strategy_params(cls: type) -> dict[str, Any]:
    """A Strategy class's parameters: its public class attributes of simple values (ints,
    floats, strings, booleans, None and tuples of them), its own and inherited ones above
    backtesting.py's ``Strategy``."""
    from backtesting import Strategy

    params: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, Strategy) or klass is Strategy:
            continue
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(value, _SIMPLE) or (
                isinstance(value, tuple) and all(isinstance(v, _SIMPLE) for v in value)
            ):
                params[name] = value
    return params


def record_run(
    ledger: Ledger,
    run_id: int,
    config: Any,
    loaded: Sequence[tuple[Any, Any]],
    fills: str,
) -> None:
    """The run's settings and each strategy file's content hash and parameters."""
    with ledger.transaction():
        ledger.record_run_settings(
            run_id,
            fills=fills,
            replay=bool(config.replay),
            cash=float(config.cash),
            lookback=config.lookback,
            backtest_options=config.backtest_options,
        )
        for spec, strategy in loaded:
            ledger.record_strategy_file(
                run_id,
                spec.strategy_id,
                str(spec.file.resolve()),  # verify may run from another folder
                file_sha256(spec.file.read_bytes()),
                strategy_params(strategy.cls),
            )
