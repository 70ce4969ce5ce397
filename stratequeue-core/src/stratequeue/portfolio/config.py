"""Reading ``strategies.txt``: ``filename,strategy_id,allocation[,fractional_unit]`` lines,
``#`` comments. The optional fourth column (e.g. ``1e-8``) runs that strategy in whole
multiples of that unit, as ``backtesting.lib.FractionalBacktest`` does.

Relative file names are resolved against the folder of ``strategies.txt`` first, then the
current directory. Every problem is reported with its line number and the fix.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..engine.units import check_unit
from ..errors import UsageError

__all__ = ["StrategySpec", "parse_strategies_file", "single_strategy"]

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass(frozen=True)
class StrategySpec:
    file: Path
    strategy_id: str
    allocation: float
    fractional_unit: float | None = None  # None: the command line's, else the file's


def single_strategy(path: str | Path) -> StrategySpec:
    """``--strategy a.py``: one strategy with the whole account (allocation 1.0)."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"Strategy file '{path}' not found. Check the path given to --strategy.")
    return StrategySpec(file, file.stem, 1.0)


def parse_strategies_file(path: str | Path) -> list[StrategySpec]:
    config = Path(path)
    if not config.is_file():
        raise UsageError(
            f"Strategies file '{path}' not found. Check the path given to --strategies."
        )
    specs: list[StrategySpec] = []
    seen: dict[str, int] = {}
    where = config.name
    for number, raw in enumerate(config.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) not in (3, 4) or not all(parts):
            raise UsageError(
                f"{where} line {number}: expected 'filename,strategy_id,allocation' and "
                f"optionally ',fractional_unit', got '{line}'."
            )
        name, strategy_id, text = parts[:3]
        unit = check_unit(parts[3], f"{where} line {number}") if len(parts) == 4 else None
        try:
            allocation = float(text)
        except ValueError:
            raise UsageError(
                f"{where} line {number}: allocation '{text}' is not a number; write a fraction "
                "such as 0.4 (40% of the account)."
            ) from None
        if not math.isfinite(allocation) or allocation <= 0:
            raise UsageError(
                f"{where} line {number}: allocation {text} must be greater than 0 (a fraction such as 0.4)."
            )
        if allocation > 1:
            raise UsageError(
                f"{where} line {number}: allocation {text} is over 1.0; allocations are fractions "
                "of the account (0.4 means 40%)."
            )
        if not _ID.match(strategy_id):
            raise UsageError(
                f"{where} line {number}: strategy id '{strategy_id}' may use only letters, digits, "
                "'_', '-' and '.' (at most 40)."
            )
        if strategy_id in seen:
            raise UsageError(
                f"{where} line {number}: strategy id '{strategy_id}' is already used on line "
                f"{seen[strategy_id]}; give each strategy its own id."
            )
        file = _resolve(name, config.parent)
        if file is None:
            raise UsageError(f"{where} line {number}: strategy file '{name}' not found.")
        seen[strategy_id] = number
        specs.append(StrategySpec(file, strategy_id, allocation, unit))
    if not specs:
        raise UsageError(f"{where} lists no strategies. Add lines like 'sma.py,sma_short,0.4'.")
    total = sum(s.allocation for s in specs)
    if total > 1 + 1e-9:
        raise UsageError(
            f"{where}: allocations sum to {total:g}, more than 1.0. Lower them so that they add "
            "up to at most 1.0."
        )
    return specs


def _resolve(name: str, base: Path) -> Path | None:
    for candidate in (base / name, Path(name)):
        if candidate.is_file():
            return candidate
    return None
