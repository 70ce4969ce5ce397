"""``status`` and ``export``: reading the ledger without running anything."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.table import Table

from ..display import make_console
from ..errors import UsageError
from ..ledger import Ledger
from ..ledger.store import TABLES

_console = make_console()


def _open(path: Path) -> Ledger:
    if not path.is_file():
        raise UsageError(f"No ledger at '{path}'. Pass the --db file a run wrote.")
    return Ledger(path)


def show_status(path: Path) -> None:
    ledger = _open(path)
    strategies = ledger.strategies()
    equity = ledger.latest_equity()
    positions = ledger.latest_positions()
    table = Table(title=f"📊 STRATEGIES ({path})")
    for column in (
        "Strategy",
        "Allocation",
        "Capital",
        "Equity",
        "P&L",
        "Positions",
        "Open orders",
    ):
        table.add_column(column)
    open_orders = ledger.orders(open_only=True)
    total_capital = total_equity = 0.0
    for s in strategies:
        sid = s["strategy_id"]
        eq = equity.get(sid, {}).get("equity", s["capital"])
        total_capital += s["capital"]
        total_equity += eq
        pos = (
            ", ".join(f"{p['symbol']} {p['qty']:+g}" for p in positions if p["strategy_id"] == sid)
            or "flat"
        )
        mine = [
            o
            for o in open_orders
            if any(leg["strategy_id"] == sid for leg in ledger.legs(o["client_order_id"]))
        ]
        table.add_row(
            sid,
            f"{s['allocation']:.0%}",
            f"${s['capital']:,.2f}",
            f"${eq:,.2f}",
            f"{eq - s['capital']:+,.2f}",
            pos,
            str(len(mine)),
        )
    table.add_row(
        "TOTAL",
        "",
        f"${total_capital:,.2f}",
        f"${total_equity:,.2f}",
        f"{total_equity - total_capital:+,.2f}",
        "",
        str(len(open_orders)),
    )
    _console.print(table)
    for line in control_lines(ledger):
        _console.print(line)
    ledger.close()


def control_lines(ledger: Ledger, last: int = 5) -> list[str]:
    """Paused strategies, tripped kill switches and the last control requests, as lines."""
    from ..display import paused_labels

    lines = []
    paused = paused_labels(ledger.paused_sleeves(), {r["symbol"] for r in ledger.sleeves()})
    if paused:
        lines.append(f"⏸  Paused: {', '.join(paused)}")
    state = ledger.get_meta("risk_state")
    for scope, kill in sorted((json.loads(state)["kills"] if state else {}).items()):
        name = "the account" if scope == "__account__" else scope
        lines.append(f"🚨 Kill switch {name}: {kill['rule']} since {kill['since']}")
    for row in ledger.controls(last):
        target = row["strategy_id"] or "all"
        lines.append(
            f"🎛  #{row['id']} {row['kind']} {target}"
            + (f" {row['symbol']}" if row["symbol"] else "")
            + f" by {row['requested_by']} at {row['requested_at'][:19]}: {row['status']}"
            + (f": {row['result']}" if row["result"] else "")
        )
    return lines


def export_tables(path: Path, fmt: str, out: Path) -> None:
    ledger = _open(path)
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        rows = ledger.table(name)
        target = out / f"{name}.{fmt}"
        if fmt == "json":
            target.write_text(json.dumps(rows, indent=1, default=str))
        else:
            with target.open("w", newline="") as handle:
                columns = [
                    d[0] for d in ledger.db.execute(f"SELECT * FROM {name} LIMIT 0").description
                ]
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        _console.print(f"{target}: {len(rows)} rows", markup=False)
    ledger.close()
