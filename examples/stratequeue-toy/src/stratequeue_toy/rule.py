"""A band rule: the file format of the toy extractor and the strategy that runs it."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from backtesting import Strategy
from stratequeue.engine import LoadedStrategy
from stratequeue.errors import StrategyLoadError

__all__ = ["BandRule", "RuleFile", "read_rule"]


class BandRule(Strategy):
    """Buy ``size`` units when a bar closes at or below ``buy_below`` (flat, no order
    waiting); close the position when a bar closes at or above ``sell_above``."""

    buy_below = 0.0
    sell_above = math.inf
    size = 1

    def init(self) -> None:
        pass

    def next(self) -> None:
        close = self.data.Close[-1]
        if not self.position and not self.orders and close <= self.buy_below:
            self.buy(size=self.size)
        elif self.position and close >= self.sell_above:
            self.position.close()


@dataclass(frozen=True)
class RuleFile(LoadedStrategy):
    """A rule file read: :class:`BandRule` and the file's numbers as its parameters."""

    params: dict[str, float] = field(default_factory=dict)


def _number(rule: dict[str, object], key: str, path: Path) -> float:
    value = rule.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StrategyLoadError(
            f"{path}: '{key}' must be a number (e.g. {key} = 100.0); it is {value!r}."
        )
    return float(value)


def read_rule(path: Path) -> RuleFile:
    """The rule in the TOML file at ``path`` (see the module of the extractor)."""
    try:
        rule = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise StrategyLoadError(f"Cannot read rule file {path}: {exc}. Check the path.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise StrategyLoadError(
            f"{path} is not a TOML rule file ({exc}). Write lines like 'buy_below = 99.0', "
            "or run a backtesting.py strategy with --extractor backtesting."
        ) from exc
    unknown = sorted(set(rule) - {"buy_below", "sell_above", "size", "lookback"})
    if unknown:
        raise StrategyLoadError(
            f"{path}: unknown key(s) {', '.join(unknown)}. A rule has buy_below, sell_above, "
            "size and optionally lookback."
        )
    buy_below, sell_above = _number(rule, "buy_below", path), _number(rule, "sell_above", path)
    if buy_below >= sell_above:
        raise StrategyLoadError(
            f"{path}: buy_below {buy_below:g} must be under sell_above {sell_above:g}."
        )
    size, lookback = rule.get("size", 1), rule.get("lookback", 2)
    for key, value in (("size", size), ("lookback", lookback)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise StrategyLoadError(
                f"{path}: '{key}' must be a whole number of at least 1; it is {value!r}."
            )
    assert isinstance(lookback, int)
    return RuleFile(
        cls=BandRule,
        path=path.resolve(),
        lookback=lookback,
        name=path.stem,
        params={"buy_below": buy_below, "sell_above": sell_above, "size": size},
    )
