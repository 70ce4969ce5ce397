"""Comparing a sleeve's live trades with its reference backtest's, and explaining each
difference by its cause.

Book-priced runs (paper, replay) must be identical: trade for trade, every field equal; the
first difference is a bug, unless a recorded cause (a refusal, an operator action, a kill
switch) came first. Runs at a real broker pair each backtest trade with the live trade
entered the same way in the same (or the next) bar; a pair's price difference is slippage,
its size difference a quantity converted at submission or a partial fill; a trade without a
partner is explained by the latest cause recorded at or before it, or is unexplained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from ..ledger import Ledger
from .broker import compare_external
from .causes import Cause, sleeve_causes
from .diffs import Difference, cause_before, say
from .reference import Reference, RefTrade

__all__ = ["Difference", "SleeveResult", "compare_sleeve", "live_trades"]

#: causes that explain a difference in a book-priced run (anything else there is a bug)
_BOOK_CAUSES = ("risk", "paused-feed", "operator")


@dataclass
class SleeveResult:
    strategy_id: str
    symbol: str
    fills: str
    matched: int
    backtest_trades: int
    live_trades: int
    live_pnl: float
    backtest_pnl: float
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Difference]:
        return [d for d in self.differences if d.cause in ("bug", "unexplained")]


def live_trades(ledger: Ledger, strategy_id: str, symbol: str) -> list[tuple[RefTrade, str]]:
    """The run's trades of the sleeve (closed in closing order, then open) and their refs."""
    out = []
    for r in ledger.trades(strategy_id):
        if r["symbol"] != symbol:
            continue
        when = [datetime.fromisoformat(r[k]) if r[k] else None for k in ("entry_time", "exit_time")]
        closed = r["status"] == "closed"
        trade = RefTrade(
            float(r["size"]),
            int(r["entry_bar"]),
            int(r["exit_bar"]) if closed else None,
            float(r["entry_price"]),
            float(r["exit_price"]) if closed else None,
            float(r["pnl"]) if closed else None,
            float(r["commission"]) if closed else None,
            when[0],
            when[1],
        )
        out.append((trade, r["trade_ref"]))
    return out


def _fields(t: RefTrade) -> tuple[object, ...]:
    return (t.size, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price, t.pnl, t.commission)


def _first_different_bar(a: RefTrade | None, b: RefTrade | None, n: int) -> int:
    """The first bar at which two trades (either may be missing) differ: their entry, or else
    their exit (an open trade exits after the last bar)."""
    if a is None or b is None:
        return max(t.entry_bar for t in (a, b) if t is not None)
    if (a.entry_bar, a.size, a.entry_price) != (b.entry_bar, b.size, b.entry_price):
        return min(a.entry_bar, b.entry_bar)
    return min(n if t.exit_bar is None else t.exit_bar for t in (a, b))


def _compare_book(
    live: list[RefTrade], ref: list[RefTrade], causes: list[Cause], index: pd.DatetimeIndex
) -> tuple[int, list[Difference]]:
    matched = 0
    for i in range(max(len(live), len(ref))):
        a = live[i] if i < len(live) else None
        b = ref[i] if i < len(ref) else None
        if a is not None and b is not None and _fields(a) == _fields(b):
            matched += 1
            continue
        cause = cause_before(causes, _first_different_bar(a, b, len(index)), _BOOK_CAUSES)
        what = (
            f"trade #{i + 1}: live {say(a, index) if a else 'made no trade'}; "
            f"backtest {say(b, index) if b else 'made no trade'}"
        )
        gap = (a.pnl or 0.0 if a else 0.0) - (b.pnl or 0.0 if b else 0.0)
        rest = sum((t.pnl or 0.0) for t in live[i + 1 :]) - sum(
            (t.pnl or 0.0) for t in ref[i + 1 :]
        )
        if cause is not None:
            return matched, [
                Difference(cause.kind, f"{what}; from here on: {cause.text}", gap + rest)
            ]
        return matched, [
            Difference(
                "bug", f"BUG (a paper or replay run must equal its backtest): {what}", gap + rest
            )
        ]
    return matched, []


def compare_sleeve(
    ledger: Ledger,
    strategy_id: str,
    symbol: str,
    fills: str,
    reference: Reference,
    history: int,
) -> SleeveResult:
    index = pd.DatetimeIndex(reference.equity.index)
    live = live_trades(ledger, strategy_id, symbol)
    causes, orders = sleeve_causes(ledger, strategy_id, symbol, index, history)
    if fills == "book":
        matched, diffs = _compare_book([t for t, _ in live], reference.trades, causes, index)
    else:
        matched, diffs = compare_external(live, reference.trades, causes, orders, index)
    pnl = [t.pnl for t, _ in live if t.pnl is not None]
    return SleeveResult(
        strategy_id,
        symbol,
        fills,
        matched,
        len(reference.trades),
        len(live),
        float(math.fsum(pnl)),
        reference.pnl,
        diffs,
    )
