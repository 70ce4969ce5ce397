"""Reading what the report needs from a ledger file into pandas frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UsageError

__all__ = ["LedgerFrames", "load_frames"]

_TRADE_COLUMNS = [
    "strategy_id",
    "symbol",
    "status",
    "size",
    "entry_price",
    "exit_price",
    "pnl",
    "commission",
    "return_pct",
    "entry_time",
    "exit_time",
    "tag",
]


@dataclass(frozen=True)
class LedgerFrames:
    """The ledger's equity snapshots, position snapshots, trades and runs, and the operator
    controls applied (marked on the equity curves)."""

    equity: pd.DataFrame
    positions: pd.DataFrame
    trades: pd.DataFrame
    runs: list[dict[str, Any]]
    controls: list[dict[str, Any]]


def _frame(rows: list[dict[str, Any]], columns: list[str], times: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def load_frames(path: Path) -> LedgerFrames:
    """Read ``path``; a missing file or a ledger without equity snapshots is a UsageError."""
    from ..ledger import Ledger

    if not path.is_file():
        raise UsageError(f"No ledger at '{path}'. Pass the --db file a run or replay wrote.")
    ledger = Ledger(path)
    try:
        equity = _frame(ledger.table("equity"), ["ts", "strategy_id", "cash", "equity"], ("ts",))
        if equity.empty:
            raise UsageError(
                f"Ledger '{path}' has no equity snapshots yet: run strategies with --db {path} "
                "(or 'stratequeue replay ... --db') first, then report."
            )
        positions = _frame(
            ledger.table("positions"),
            ["ts", "strategy_id", "symbol", "qty", "avg_price", "market_price"],
            ("ts",),
        )
        trades = _frame(ledger.trades(), _TRADE_COLUMNS, ("entry_time", "exit_time"))
        runs = ledger.table("runs")
        controls = [c for c in ledger.controls() if c["status"] == "applied" and c["bar_time"]]
    finally:
        ledger.close()
    return LedgerFrames(
        equity=equity.sort_values(["ts", "strategy_id"], kind="stable").reset_index(drop=True),
        positions=positions,
        trades=trades,
        runs=runs,
        controls=controls,
    )
