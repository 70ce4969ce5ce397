"""What the trader sees: one line per signal, fill and rejection, and the end-of-run table.

Output goes through rich, which writes plain text without escape codes when stdout is not a
terminal (CI, ``| tee``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from .portfolio.events import Event, FillEvent, RejectEvent, SignalEvent

__all__ = ["Display", "make_console"]


def make_console() -> Console:
    """A console for humans; when stdout is not a terminal (CI, pipes) rich writes plain text,
    and tables get a generous width instead of being cut at 80 columns."""
    import os
    import sys

    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
    return Console(highlight=False, soft_wrap=True, width=width)


_ICONS = {"BUY": "📈", "SELL": "📉", "CLOSE": "🔒", "CANCEL": "✖"}


class Display:
    def __init__(
        self, *, mode_label: str, broker_label: str, console: Console | None = None
    ) -> None:
        self.console = console or make_console()
        self.mode_label = mode_label
        self.broker_label = broker_label

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)

    def events(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, SignalEvent):
                self.line(
                    f"{_ICONS.get(event.action, '•')} {event.time:%Y-%m-%d %H:%M:%S} {event.strategy_id} → "
                    f"{event.symbol}: {event.action} @ ${event.price:,.2f}"
                    + (f" ({event.order_type})" if event.order_type != "market" else "")
                    + f"  └─ ${event.amount:,.2f} ({event.share:.0%} of strategy capital)"
                    f" via {self.broker_label} ({self.mode_label})"
                )
            elif isinstance(event, FillEvent):
                parts = ", ".join(f"{s} {q:+g}" for s, q in event.strategies)
                label = "🧪 HYPOTHETICAL FILL" if event.hypothetical else "✅ FILL"
                self.line(
                    f"{label} {event.symbol} {event.side} {event.qty:g} @ ${event.price:,.2f} [{parts}]"
                )
            elif isinstance(event, RejectEvent):
                self.line(
                    f"⛔ REJECTED {event.symbol} order {event.client_order_id}: {event.message}"
                )

    def summary(
        self, rows: Sequence[dict[str, Any]], account: dict[str, Any] | None = None
    ) -> None:
        table = Table(title="📈 STRATEGY PERFORMANCE")
        for column in ("Strategy", "Allocation", "P&L", "Trades", "Win Rate"):
            table.add_column(column, justify="right" if column != "Strategy" else "left")
        for row in rows:
            win = "–" if row["win_rate"] is None else f"{row['win_rate']:.0%}"
            table.add_row(
                row["strategy_id"],
                f"${row['capital']:,.0f} ({row['allocation']:.0%})",
                f"{row['pnl']:+,.2f}",
                str(row["trades"]),
                win,
            )
        self.console.print(table)
        if account:
            self.line(
                f"💰 Account value ${account['equity']:,.2f} · cash ${account['cash']:,.2f} · "
                f"Trading Mode: {self.mode_label.upper()} via {self.broker_label}"
            )
        else:
            self.line(f"💰 Trading Mode: {self.mode_label.upper()} via {self.broker_label}")
