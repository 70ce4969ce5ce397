"""What the trader sees: signals, fills and rejections as they happen, a portfolio panel, and
the end-of-run performance table.

On a terminal the portfolio panel stays at the bottom of the screen (rich ``Live``), refreshed
each bar, and the events scroll above it. Elsewhere (CI, ``| tee``) every event is one plain line
without escape codes, and the panel is one line too, printed when it changes (a fill, a position
opened or closed) or every ``panel_every`` bars, never once per bar.
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .brokers.base import BaseBroker, BookPricedBroker
from .portfolio.events import Event, FillEvent, RejectEvent, SignalEvent

if TYPE_CHECKING:
    from .portfolio import Portfolio

__all__ = ["Display", "make_console", "panel_data"]


def make_console() -> Console:
    """A console for humans; when stdout is not a terminal (CI, pipes) rich writes plain text,
    and tables get a generous width instead of being cut at 80 columns."""
    import os
    import sys

    columns = int(os.environ.get("COLUMNS") or 0)
    width = None if sys.stdout.isatty() else max(columns, 160)
    return Console(highlight=False, soft_wrap=True, width=width)


_ICONS = {"BUY": "📈", "SELL": "📉", "CLOSE": "🔒", "CANCEL": "✖"}
_STYLES = {"BUY": "bold green", "SELL": "bold red", "CLOSE": "bold yellow", "CANCEL": "dim"}


class Display:
    """The run's screen. ``panel_every``: in plain mode, the longest gap (in bars) between two
    portfolio lines when nothing changed."""

    def __init__(
        self,
        *,
        mode_label: str,
        broker_label: str,
        console: Console | None = None,
        panel_every: int = 10,
    ) -> None:
        self.console = console or make_console()
        self.mode_label = mode_label
        self.broker_label = broker_label
        self.panel_every = panel_every
        self._live: Live | None = None
        self._signal_time: datetime | None = None
        self._panel_key: tuple[Any, ...] | None = None
        self._bars_since_panel = 0

    # -- events -----------------------------------------------------------------------------------
    def line(self, text: str) -> None:
        self._print(Text(text))

    def _print(self, text: Text) -> None:
        self.console.print(text, soft_wrap=True)  # one event, one line: no wrapping in logs

    def events(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, SignalEvent):
                self._signal(event)
            elif isinstance(event, FillEvent):
                parts = ", ".join(f"{s} {q:+g}" for s, q in event.strategies)
                label = "🧪 HYPOTHETICAL FILL" if event.hypothetical else "✅ FILL"
                text = f"{label} {event.symbol} {event.side} {event.qty:g} @ ${event.price:,.2f} [{parts}]"
                self._print(Text(text, style="cyan" if event.hypothetical else "green"))
            elif isinstance(event, RejectEvent):
                who = f" ({', '.join(event.strategies)})" if event.strategies else ""
                text = f"⛔ REJECTED {event.symbol} order {event.client_order_id}{who}: {event.message}"
                self._print(Text(text, style="bold red"))

    def moment(self, when: datetime, bars: int, events: Sequence[Event]) -> None:
        """One line for a moment of many runners: bars, signals by action, fills, the symbols
        most traded; rejections still one line each."""
        signals: dict[str, int] = {}
        fills = 0
        symbols: dict[str, int] = {}
        for event in events:
            if isinstance(event, SignalEvent):
                signals[event.action] = signals.get(event.action, 0) + 1
                symbols[event.symbol] = symbols.get(event.symbol, 0) + 1
            elif isinstance(event, FillEvent):
                fills += 1
        counted = ", ".join(f"{n} {action}" for action, n in sorted(signals.items()))
        text = f"🎯 {when:%Y-%m-%d %H:%M:%S} · {bars} bars · {sum(signals.values())} signals"
        if counted:
            top = sorted(symbols, key=lambda s: (-symbols[s], s))[:5]
            text += f" ({counted}; most on {', '.join(top)})"
        text += f" · {fills} fills"
        self._print(Text(text))
        self.events([e for e in events if isinstance(e, RejectEvent)])

    def _signal(self, event: SignalEvent) -> None:
        icon = _ICONS.get(event.action, "•")
        head = f"{event.strategy_id} → {event.symbol}: {event.action} @ ${event.price:,.2f}"
        if event.order_type != "market":
            head += f" ({event.order_type})"
        if event.detail:
            head += f" · {event.detail}"
        amount = f"${event.amount:,.2f} ({event.share:.0%} of strategy capital)"
        via = f"{self.broker_label} ({self.mode_label})"
        if not self.console.is_terminal:
            self.line(f"{icon} {event.time:%Y-%m-%d %H:%M:%S} {head}  └─ {amount} via {via}")
            return
        if event.time != self._signal_time:  # the seed's header, once per bar
            self._signal_time = event.time
            self._print(Text(f"🎯 SIGNALS - {event.time:%Y-%m-%d %H:%M:%S}", style="bold"))
        self._print(Text(f"{icon} {head}", style=_STYLES.get(event.action, "")))
        self._print(Text(f"  └─ Allocation: {amount}\n  └─ Broker: {via}", style="dim"))

    # -- the portfolio panel ----------------------------------------------------------------------
    def portfolio(self, panel_data: Mapping[str, Any]) -> None:
        """Show the account once per bar. ``panel_data``: ``equity`` and ``cash`` (dollars),
        ``positions`` (open positions, a count), ``strategies`` ((active, total)), ``mode`` and
        ``broker`` (labels); optional ``pnl`` ({strategy id: dollars}), ``hypothetical``
        (True with --no-trading: the P&L is what the strategies' books assume), ``paused``
        (sleeves an operator paused, as text) and ``killed`` (strategies whose kill switch is
        tripped)."""
        if self.console.is_terminal:
            if self._live is None:
                self._live = Live(
                    console=self.console,
                    auto_refresh=False,
                    redirect_stderr=sys.stderr.isatty(),  # logs on screen go above the panel
                )
                self._live.start()
                atexit.register(self.close)
            self._live.update(_panel(panel_data), refresh=True)
            return
        active, total = panel_data["strategies"]
        key = (
            panel_data["positions"],
            active,
            total,
            round(float(panel_data["cash"]), 2),
            tuple(panel_data.get("paused") or ()),
        )
        self._bars_since_panel += 1
        if key == self._panel_key and self._bars_since_panel < self.panel_every:
            return
        self._panel_key, self._bars_since_panel = key, 0
        self.line("📊 PORTFOLIO · " + " · ".join(f"{k}: {v}" for k, v in _fields(panel_data)))

    def close(self) -> None:
        """Stop the live panel (its last state stays on screen); safe to call more than once."""
        if self._live is not None:
            self._live.stop()
            self._live = None
            atexit.unregister(self.close)

    # -- the end of the run -----------------------------------------------------------------------
    def summary(
        self, rows: Sequence[dict[str, Any]], account: dict[str, Any] | None = None
    ) -> None:
        self.close()
        table = Table(title="📈 STRATEGY PERFORMANCE")
        for column in ("Strategy", "Allocation", "P&L", "Trades", "Win Rate"):
            table.add_column(column, justify="right" if column != "Strategy" else "left")
        for row in rows:
            win = "–" if row["win_rate"] is None else f"{row['win_rate']:.0%}"
            table.add_row(
                row["strategy_id"],
                f"${row['capital']:,.0f} ({row['allocation']:.0%})",
                _signed(row["pnl"]),
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


def panel_data(portfolio: Portfolio, broker: BaseBroker | None, mode: str) -> dict[str, Any]:
    """What the portfolio panel shows (see :meth:`Display.portfolio`): the account of a
    book-priced broker, else the sum of the strategies' books."""
    rows = portfolio.strategy_summary()
    account = broker.get_account_info() if isinstance(broker, BookPricedBroker) else None
    equity = account.equity if account else sum(r["equity"] for r in rows)
    cash = account.cash if account else sum(float(s.runner.cash) for s in portfolio.all_sleeves())
    risk = portfolio.risk
    active = sum(1 for r in rows if risk is None or not risk.killed(r["strategy_id"]))
    return {
        "equity": equity,
        "cash": cash,
        "positions": sum(1 for r in rows for q in r["positions"].values() if q),
        "strategies": (active, len(rows)),
        "mode": mode,
        "broker": broker.display_name or broker.name if broker else "none",
        "pnl": {r["strategy_id"]: r["pnl"] for r in rows},
        "hypothetical": mode == "signals",
        "paused": paused_labels(portfolio.held, portfolio.sleeves),
        "killed": [
            r["strategy_id"] for r in rows if risk is not None and risk.killed(r["strategy_id"])
        ],
    }


def paused_labels(held: Iterable[tuple[str, str]], symbols: Iterable[str]) -> list[str]:
    """Paused (strategy, symbol) sleeves as text: "a" when all its symbols are paused, else
    "a on AAPL"."""
    everywhere = set(symbols)
    by_strategy: dict[str, set[str]] = {}
    for strategy, symbol in held:
        by_strategy.setdefault(strategy, set()).add(symbol)
    return [
        sid if mine >= everywhere else f"{sid} on {', '.join(sorted(mine))}"
        for sid, mine in sorted(by_strategy.items())
    ]


def _signed(dollars: float) -> str:
    """+1,234.50 / -3.00, and +0.00 for a loss that rounds to nothing (never -0.00)."""
    return f"{round(float(dollars), 2) + 0.0:+,.2f}"


def _fields(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The panel's rows, in the seed's order: (label, value)."""
    active, total = data["strategies"]
    fields = [
        ("Total Value", f"${float(data['equity']):,.2f}"),
        ("Active Strategies", f"{active}/{total}"),
        ("Open Positions", str(data["positions"])),
        ("Available Cash", f"${float(data['cash']):,.2f}"),
        ("Trading Mode", f"{str(data['mode']).upper()} via {data['broker']}"),
    ]
    pnl: Mapping[str, float] = data.get("pnl") or {}
    if pnl:
        label = "Hypothetical P&L" if data.get("hypothetical") else "P&L"
        fields.append((label, ", ".join(f"{sid} {_signed(value)}" for sid, value in pnl.items())))
    if data.get("paused"):
        fields.append(("Paused", ", ".join(data["paused"])))
    if data.get("killed"):
        fields.append(("Kill Switch", ", ".join(data["killed"])))
    return fields


def _panel(data: Mapping[str, Any]) -> Panel:
    rows = [Text.assemble(("  • ", "dim"), (f"{k}: ", "bold"), v) for k, v in _fields(data)]
    return Panel(Group(*rows), title="📊 PORTFOLIO STATUS", title_align="left", expand=False)
