"""Risk limits and their config file, ``stratequeue.toml``.

Format (every key optional; a missing key means no limit)::

    [risk]                        # the account: all strategies together
    max_position_value = 50000    # $ held per symbol (absolute market value)
    max_order_value = 10000       # $ per order
    max_orders_per_minute = 30    # orders accepted in any 60 s window
    max_daily_loss = 2000         # $ lost since the first equity of the UTC day -> kill switch
    max_drawdown = 0.15           # fraction below the highest equity seen -> kill switch
    allowed_symbols = ["AAPL", "MSFT", "BTC"]
    flatten_on_kill = false       # when the kill switch trips, also close open positions

    [risk.strategies.sma_short]   # one strategy (its id from strategies.txt); same keys
    max_order_value = 2500
    max_drawdown = 0.10

Account limits apply to the account's totals (positions summed over strategies, every
strategy's orders counted together, the account's equity); a strategy's limits apply to its own
book. Other top-level tables of the file are left to their owners; an unknown key inside
``[risk]`` or ``[risk.strategies.<id>]`` is an error naming the key and the file.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = ["RiskConfig", "RiskLimits", "load_risk_config"]


@dataclass(frozen=True)
class RiskLimits:
    """Limits for one scope (a strategy or the account); None means no limit."""

    max_position_value: float | None = None
    max_order_value: float | None = None
    max_orders_per_minute: int | None = None
    max_daily_loss: float | None = None
    max_drawdown: float | None = None
    allowed_symbols: frozenset[str] | None = None
    flatten_on_kill: bool = False


@dataclass(frozen=True)
class RiskConfig:
    """The account's limits and each strategy's own."""

    account: RiskLimits = RiskLimits()
    strategies: Mapping[str, RiskLimits] = field(default_factory=dict)

    def for_strategy(self, strategy_id: str) -> RiskLimits:
        return self.strategies.get(strategy_id, RiskLimits())


_KEYS = [f.name for f in fields(RiskLimits)]


def _number(value: Any, key: str, where: str, *, integer: bool = False) -> float | int:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0 or (integer and value != int(value)):
        kind = "a whole number above 0" if integer else "a number above 0"
        raise UsageError(f"{where}: '{key}' must be {kind}, not {value!r}.")
    return int(value) if integer else float(value)


def _limits(table: Any, where: str) -> RiskLimits:
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table of settings (key = value lines).")
    unknown = [k for k in table if k not in _KEYS]
    if unknown:
        raise UsageError(
            f"{where}: unknown risk setting '{unknown[0]}'. Known settings: {', '.join(_KEYS)}."
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "allowed_symbols":
            if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
                raise UsageError(
                    f"{where}: 'allowed_symbols' must be a list of symbols, e.g. [\"AAPL\"]."
                )
            values[key] = frozenset(s.strip().upper() for s in value)
        elif key == "flatten_on_kill":
            if not isinstance(value, bool):
                raise UsageError(
                    f"{where}: 'flatten_on_kill' must be true or false, not {value!r}."
                )
            values[key] = value
        elif key == "max_drawdown":
            number = _number(value, key, where)
            if number >= 1:
                raise UsageError(
                    f"{where}: 'max_drawdown' is a fraction below 1 (0.15 = 15%), not {value!r}."
                )
            values[key] = number
        else:
            values[key] = _number(value, key, where, integer=key == "max_orders_per_minute")
    return RiskLimits(**values)


def load_risk_config(path: str | Path) -> RiskConfig:
    """Read the ``[risk]`` tables of ``path``; a file without them means no limits."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"No config file at '{path}'. Create it or pass another file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"'{path}' is not valid TOML: {exc}.") from None
    risk = document.get("risk", {})
    if not isinstance(risk, dict):
        raise UsageError(f"{path}: 'risk' must be a table ([risk]).")
    strategies = risk.get("strategies", {})
    if not isinstance(strategies, dict):
        raise UsageError(f"{path}: 'risk.strategies' must hold tables ([risk.strategies.<id>]).")
    account = _limits({k: v for k, v in risk.items() if k != "strategies"}, f"{path} [risk]")
    return RiskConfig(
        account=account,
        strategies={
            sid: _limits(table, f"{path} [risk.strategies.{sid}]")
            for sid, table in strategies.items()
        },
    )
