"""What the trader sees, captured from a rich console: plain lines when piped, a live panel on a
terminal."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import StringIO
from typing import Any

from rich.console import Console
from stratequeue.display import Display
from stratequeue.portfolio.events import FillEvent, RejectEvent, SignalEvent

T0 = datetime(2024, 6, 9, 14, 30, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def make(terminal: bool, width: int = 100) -> tuple[Display, StringIO]:
    out = StringIO()
    console = Console(file=out, force_terminal=terminal, width=width)
    return Display(mode_label="paper", broker_label="Alpaca", console=console), out


def panel(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "equity": 12_450.67,
        "cash": 3_234.21,
        "positions": 5,
        "strategies": (3, 3),
        "mode": "paper",
        "broker": "Alpaca",
    }
    return {**data, **changes}


EVENTS = [
    SignalEvent("sma_short", "AAPL", T0, "BUY", 185.45, 2_500.0, 0.25),
    SignalEvent("momentum_1h", "MSFT", T0, "SELL", 340.12, 1_800.0, 0.18),
    FillEvent("AAPL", T0, "BUY", 13, 185.50, "c-1", (("sma_short", 13.0),)),
    RejectEvent("MSFT", T0, "c-2", "max_order_value: $1,800 > $1,000", ("momentum_1h",)),
]


def test_plain_output_has_one_line_per_event_and_no_escape_codes():
    display, out = make(terminal=False, width=60)
    display.events(EVENTS)
    display.portfolio(panel())
    text = out.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == (
        "📈 2024-06-09 14:30:00 sma_short → AAPL: BUY @ $185.45  └─ $2,500.00 "
        "(25% of strategy capital) via Alpaca (paper)"
    )  # not wrapped at 60 columns: one event, one greppable line
    assert "momentum_1h → MSFT: SELL @ $340.12" in lines[1] and "(18% of strategy" in lines[1]
    assert lines[2] == "✅ FILL AAPL BUY 13 @ $185.50 [sma_short +13]"
    assert lines[3] == (
        "⛔ REJECTED MSFT order c-2 (momentum_1h): max_order_value: $1,800 > $1,000"
    )
    assert lines[4] == (
        "📊 PORTFOLIO · Total Value: $12,450.67 · Active Strategies: 3/3 · Open Positions: 5"
        " · Available Cash: $3,234.21 · Trading Mode: PAPER via Alpaca"
    )
    assert len(lines) == 5


def test_plain_panel_is_printed_on_change_or_every_n_bars_never_each_bar():
    display, out = make(terminal=False)
    for bar in range(25):
        display.portfolio(panel(equity=12_000 + bar))  # the value moves every bar
    assert out.getvalue().count("📊 PORTFOLIO") == 3  # bars 0, 10, 20
    display.portfolio(panel(positions=6))  # a position opened: shown at once
    display.portfolio(panel(positions=6, cash=1_000.0))  # a fill moved cash
    display.portfolio(panel(positions=6, cash=1_000.0))
    lines = [line for line in out.getvalue().splitlines() if "PORTFOLIO" in line]
    assert len(lines) == 5
    assert "Open Positions: 6" in lines[3] and "Available Cash: $1,000.00" in lines[4]


def test_no_trading_shows_hypothetical_fills_and_pnl_per_strategy():
    display, out = make(terminal=False)
    display.mode_label = "signals only"
    display.events([FillEvent("AAPL", T0, "SELL", 5, 190.0, "c-3", (("sma", -5.0),), True)])
    display.portfolio(
        panel(
            pnl={"sma": 23.5, "rsi": -4.25, "flat": -1e-9}, hypothetical=True, mode="signals only"
        )
    )
    text = out.getvalue()
    assert "🧪 HYPOTHETICAL FILL AAPL SELL 5 @ $190.00 [sma -5]" in text
    assert (
        "Trading Mode: SIGNALS ONLY via Alpaca · Hypothetical P&L: sma +23.50, rsi -4.25, flat +0.00"
        in text
    )


def test_terminal_renders_the_seed_signal_layout_and_a_live_portfolio_panel():
    display, out = make(terminal=True)
    display.events(EVENTS[:1])
    display.portfolio(panel())
    display.portfolio(panel(equity=12_500.0, pnl={"sma_short": 49.33}))
    display.events(EVENTS[2:])  # printed above the panel while it is live
    display.summary(
        [
            {
                "strategy_id": "sma_short",
                "capital": 5_000.0,
                "allocation": 0.4,
                "pnl": 234.56,
                "trades": 3,
                "win_rate": 2 / 3,
            }
        ],
        {"equity": 12_500.0, "cash": 3_234.21},
    )
    raw = out.getvalue()
    assert "\x1b[" in raw  # styled
    text = ANSI.sub("", raw)
    assert "🎯 SIGNALS - 2024-06-09 14:30:00" in text
    assert "📈 sma_short → AAPL: BUY @ $185.45" in text
    assert "  └─ Allocation: $2,500.00 (25% of strategy capital)" in text
    assert "  └─ Broker: Alpaca (paper)" in text
    assert "📊 PORTFOLIO STATUS" in text and "╭" in text  # a boxed panel, not a line
    for row in (
        "Total Value: $12,500.00",
        "Active Strategies: 3/3",
        "Open Positions: 5",
        "Available Cash: $3,234.21",
        "Trading Mode: PAPER via Alpaca",
        "P&L: sma_short +49.33",
    ):
        assert row in text
    assert "⛔ REJECTED MSFT order c-2 (momentum_1h): max_order_value" in text
    assert text.index("STRATEGY PERFORMANCE") > text.rindex("PORTFOLIO STATUS")
    assert "$5,000 (40%)" in text and "+234.56" in text and "67%" in text
    assert "Trading Mode: PAPER via Alpaca" in text.split("STRATEGY PERFORMANCE")[1]
    # the live panel hid the cursor, and gave it back before the table
    assert raw.index("\x1b[?25l") < raw.index("\x1b[?25h") < raw.index("STRATEGY PERFORMANCE")


def test_summary_without_a_panel_prints_the_table_and_mode_in_plain_text():
    display, out = make(terminal=False)
    display.summary(
        [
            {
                "strategy_id": "mean_revert",
                "capital": 3_750.0,
                "allocation": 0.3,
                "pnl": -45.23,
                "trades": 0,
                "win_rate": None,
            }
        ]
    )
    text = out.getvalue()
    assert "\x1b" not in text
    assert "📈 STRATEGY PERFORMANCE" in text
    assert "│ mean_revert │ $3,750 (30%) │ -45.23 │      0 │        – │" in text
    assert text.rstrip().endswith("💰 Trading Mode: PAPER via Alpaca")


def test_close_is_idempotent_and_a_panel_can_restart():
    display, out = make(terminal=True)
    display.close()
    display.portfolio(panel())
    display.close()
    display.close()
    display.portfolio(panel(positions=1))
    display.close()
    assert ANSI.sub("", out.getvalue()).count("Open Positions: 1") >= 1
