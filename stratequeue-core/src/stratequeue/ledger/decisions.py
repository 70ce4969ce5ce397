"""A run's decisions as plain rows, to compare two runs of the same bars (the executors' tests:
a replay under ``process`` or ``ray`` writes the ledger of ``inline``).

Only columns that do not hold wall-clock times, rows sorted, and the ledger's own id (part of
client order ids and execution ids) replaced by ``L``: two runs that decided the same compare
equal.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["DECISIONS", "decisions"]

#: every table a run's decisions land in -> its columns that do not hold wall-clock times
DECISIONS: Mapping[str, str] = {
    "bars": "symbol, ts, open, high, low, close, volume",
    "signals": "strategy_id, symbol, bar_time, signal, price, size, detail",
    "intents": "strategy_id, symbol, ref, action, bar_time, size, order_type, limit_price, "
    "stop_price, sl, tp, parent_ref, client_order_id",
    "orders": "client_order_id, symbol, side, qty, order_type, limit_price, stop_price, status",
    "order_legs": "client_order_id, strategy_id, ref, size",
    "fills": "execution_id, client_order_id, symbol, side, qty, price, commission, ts",
    "fill_allocations": "fill_id, strategy_id, symbol, ref, qty, price, commission",
    "trades": "strategy_id, symbol, trade_ref, status, size, entry_bar, exit_bar, entry_price, "
    "exit_price, sl, tp, pnl",
    "equity": "ts, strategy_id, cash, equity",
    "positions": "ts, strategy_id, symbol, qty, avg_price, market_price",
}


def decisions(
    db: str | Path, tables: Mapping[str, str] = DECISIONS, leave_out: Iterable[str] = ()
) -> dict[str, list[tuple]]:
    """``tables``' rows in ledger file ``db`` (see the module), without the columns named in
    ``leave_out`` (a real broker's execution ids, say, which no two runs share)."""
    dropped = set(leave_out)
    con = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
    try:
        ledger_id = con.execute("SELECT value FROM meta WHERE key='ledger_id'").fetchone()[0]

        def plain(row: tuple) -> tuple:
            return tuple(v.replace(ledger_id, "L") if isinstance(v, str) else v for v in row)

        out = {}
        for table, columns in tables.items():
            kept = ", ".join(c for c in map(str.strip, columns.split(",")) if c not in dropped)
            out[table] = sorted(plain(r) for r in con.execute(f"SELECT {kept} FROM {table}"))
        return out
    finally:
        con.close()
