"""``stratequeue verify``: after a run, re-run each sleeve's backtest on the bars its book saw
and compare the trades; every difference is a bug (paper, replay) or explained by its cause.

:mod:`.sleeve` reads what the ledger kept, :mod:`.reference` runs ``Backtest.run``,
:mod:`.causes` lists what happened to the orders, :mod:`.compare` pairs and explains,
:mod:`.drift` compares the bars with a vendor's history, :mod:`.arrival` finds the live bars
that came late, :mod:`.text` says it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UsageError
from .arrival import Lateness, check_lateness
from .compare import Difference, SleeveResult, compare_sleeve
from .reference import Reference, run_reference
from .sleeve import SleeveRecord, load_sleeves

__all__ = ["Difference", "SleeveResult", "Verification", "verify_ledger"]


@dataclass
class Verification:
    """Every sleeve's result, the references' equity per strategy and the run's."""

    db: Path
    results: list[SleeveResult]
    backtest_equity: dict[str, pd.Series] = field(default_factory=dict)
    sleeves: list[SleeveRecord] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    drift: list[Any] = field(default_factory=list)
    #: per symbol that received bars live: the bars that came late (verify/arrival.py)
    late: list[Lateness] = field(default_factory=list)

    @property
    def unexplained(self) -> int:
        """Unexplained differences between the trades (data drift is a finding, not one)."""
        return sum(len(r.unexplained) for r in self.results)

    @property
    def exit_code(self) -> int:
        return 1 if self.unexplained else 0


def verify_ledger(db: Path, strategy: str | None = None, symbol: str | None = None) -> Verification:
    """Verify the runs kept in ledger ``db`` (only ``strategy`` / ``symbol`` if given)."""
    from ..ledger import Ledger

    if not db.is_file():
        raise UsageError(f"No ledger at '{db}'. Pass the --db file a run or replay wrote.")
    ledger = Ledger(db)
    try:
        sleeves = load_sleeves(ledger, strategy, symbol)
        out = Verification(db, [], sleeves=sleeves)
        for sleeve in sleeves:
            reference = run_reference(sleeve)
            result = compare_sleeve(
                ledger, sleeve.strategy_id, sleeve.symbol, sleeve.fills, reference, sleeve.history
            )
            result.notes += sleeve.notes
            out.results.append(result)
            out.references.append(reference)
            live = reference.equity.iloc[sleeve.history :]
            mine = out.backtest_equity.get(sleeve.strategy_id)
            out.backtest_equity[sleeve.strategy_id] = (
                live if mine is None else mine.add(live, fill_value=0.0)
            )
        out.late = check_lateness(ledger, list(dict.fromkeys(s.symbol for s in sleeves)))
        return out
    finally:
        ledger.close()


def strategies_of(results: Sequence[SleeveResult]) -> list[str]:
    return list(dict.fromkeys(r.strategy_id for r in results))
