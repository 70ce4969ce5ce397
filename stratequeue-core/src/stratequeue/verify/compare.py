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

import numpy as np
import pandas as pd

from ..ledger import Ledger
from .causes import Cause, OrderFacts, sleeve_causes
from .reference import Reference, RefTrade

__all__ = ["Difference", "SleeveResult", "compare_sleeve", "live_trades"]

#: causes that explain a difference in a book-priced run (anything else there is a bug)
_BOOK_CAUSES = ("risk", "paused-feed", "operator")


@dataclass(frozen=True)
class Difference:
    """One difference: its cause (``unexplained``, ``bug`` or a cause kind), what it is, and
    the part of the P&L gap (live minus backtest) it accounts for."""

    cause: str
    text: str
    pnl_gap: float = 0.0
    slippage_bps: float | None = None


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


def _say(t: RefTrade, index: pd.DatetimeIndex) -> str:
    def at(bar: int | None) -> str:
        return (
            f"bar {bar} ({index[bar]:%Y-%m-%d %H:%M})"
            if bar is not None and bar < len(index)
            else f"bar {bar}"
        )

    text = f"size {t.size:+g} entered {at(t.entry_bar)} at {t.entry_price:.6g}"
    if t.closed:
        assert t.exit_price is not None and t.pnl is not None
        text += f", exited {at(t.exit_bar)} at {t.exit_price:.6g}, P&L {t.pnl:,.2f}"
    else:
        text += ", still open"
    return text


def _fields(t: RefTrade) -> tuple[object, ...]:
    return (t.size, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price, t.pnl, t.commission)


def _cause_before(
    causes: list[Cause], bar: int, kinds: tuple[str, ...] | None = None
) -> Cause | None:
    found = None
    for cause in causes:
        if cause.bar <= bar and (kinds is None or cause.kind in kinds):
            found = cause
    return found


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
        cause = _cause_before(causes, _first_different_bar(a, b, len(index)), _BOOK_CAUSES)
        what = (
            f"trade #{i + 1}: live {_say(a, index) if a else 'made no trade'}; "
            f"backtest {_say(b, index) if b else 'made no trade'}"
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


def _slippage(a: RefTrade, b: RefTrade) -> tuple[float, float]:
    """Money lost to fill prices on the live size (each leg filled in the same bar as the
    backtest's), and its basis points of the backtest's traded value."""
    side = 1.0 if a.size > 0 else -1.0
    qty = abs(a.size)
    money = value = 0.0
    if a.entry_bar == b.entry_bar:
        money += (a.entry_price - b.entry_price) * side * qty
        value += b.entry_price * qty
    if a.exit_price is not None and b.exit_price is not None and a.exit_bar == b.exit_bar:
        money += (b.exit_price - a.exit_price) * side * qty
        value += b.exit_price * qty
    return money, (money / value * 1e4 if value else 0.0)


def merge_pieces(live: list[tuple[RefTrade, str]]) -> list[tuple[RefTrade, str]]:
    """A trade closed in pieces in one bar (a partially filled close, then the rest) as one
    trade, as backtesting.py closes it in one piece."""
    out: list[tuple[RefTrade, str]] = []
    for trade, ref in live:
        if out and trade.closed:
            last, last_ref = out[-1]
            if last_ref == ref and last.closed and last.exit_bar == trade.exit_bar:
                assert last.exit_price is not None and trade.exit_price is not None
                size = last.size + trade.size
                exit_price = (last.exit_price * last.size + trade.exit_price * trade.size) / size
                out[-1] = (
                    RefTrade(
                        size,
                        last.entry_bar,
                        last.exit_bar,
                        last.entry_price,
                        exit_price,
                        (last.pnl or 0.0) + (trade.pnl or 0.0),
                        (last.commission or 0.0) + (trade.commission or 0.0),
                        last.entry_time,
                        last.exit_time,
                    ),
                    ref,
                )
                continue
        out.append((trade, ref))
    return out


def _pair(live: list[RefTrade], ref: list[RefTrade]) -> list[tuple[int | None, int | None]]:
    """Pairs (live index, ref index): same direction, entry within one bar, first come."""
    taken: set[int] = set()
    pairs: list[tuple[int | None, int | None]] = []
    for j, b in enumerate(ref):
        hit = None
        for i, a in enumerate(live):
            if i in taken or (a.size > 0) != (b.size > 0) or abs(a.entry_bar - b.entry_bar) > 1:
                continue
            hit = i
            break
        if hit is not None:
            taken.add(hit)
        pairs.append((hit, j))
    pairs += [(i, None) for i in range(len(live)) if i not in taken]
    return pairs


def _positions(trades: list[RefTrade], n: int) -> np.ndarray:
    """The position the trades hold at the end of each bar (a trade from its entry bar up to,
    not including, its exit bar)."""
    pos = np.zeros(n + 1)
    for t in trades:
        pos[t.entry_bar] += t.size
        pos[t.exit_bar if t.exit_bar is not None else n] -= t.size
    return np.cumsum(pos)[:n]


class _Windows:
    """The bars where the live position is not the backtest's: a difference there follows
    from what started the window, not from a fill price."""

    def __init__(self, live: list[RefTrade], ref: list[RefTrade], n: int) -> None:
        self.off = _positions(live, n) != _positions(ref, n)

    def start(self, first: int, last: int) -> int | None:
        """The start of the first window that bars ``first..last`` touch, None if none."""
        span = self.off[max(first, 0) : last + 1]
        if not span.any():
            return None
        bar = max(first, 0) + int(np.argmax(span))
        while bar > 0 and self.off[bar - 1]:
            bar -= 1
        return bar


def _compare_external(
    live: list[tuple[RefTrade, str]],
    ref: list[RefTrade],
    causes: list[Cause],
    orders: dict[str, OrderFacts],
    index: pd.DatetimeIndex,
) -> tuple[int, list[Difference]]:
    live = merge_pieces(live)
    trades = [t for t, _ in live]
    windows = _Windows(trades, ref, len(index))
    matched = 0
    out: list[Difference] = []
    for i, j in _pair(trades, ref):
        a = trades[i] if i is not None else None
        b = ref[j] if j is not None else None
        both = [t for t in (a, b) if t is not None]
        first = min(t.entry_bar for t in both)
        last = max(t.exit_bar if t.exit_bar is not None else len(index) - 1 for t in both)
        same = (
            a is not None
            and b is not None
            and (a.size, a.entry_bar, a.exit_bar) == (b.size, b.entry_bar, b.exit_bar)
        )
        if same:
            matched += 1
        start = windows.start(first, last)
        gap = sum((t.pnl or 0.0) for t in ([a] if a else [])) - sum(
            (t.pnl or 0.0) for t in ([b] if b else [])
        )
        what = (
            f"live {_say(a, index)}; backtest {_say(b, index)}"
            if a is not None and b is not None
            else f"only the {'live run' if a is not None else 'backtest'} made the trade "
            f"{_say(both[0], index)}"
        )
        own = None
        if a is not None and b is not None and i is not None and a.size != b.size:
            own = _size_cause(a, b, orders.get(live[i][1]), [])
        if start is not None and not same and (own is None or own[0] == "unexplained"):
            cause = _cause_before(causes, start)
            out.append(_attributed(cause, f"{what} (positions differ from bar {start})", gap))
            continue
        if a is None or b is None:
            out.append(_attributed(_cause_before(causes, first), what, gap))
            continue
        money, bps = _slippage(a, b)
        if money:
            out.append(
                Difference(
                    "slippage",
                    f"{_say(a, index)}: filled vs the backtest's {b.entry_price:.6g}"
                    + (f"/{b.exit_price:.6g}" if b.exit_price is not None else "")
                    + f": {money:+,.2f} ({bps:+.1f} bps)",
                    -money if a.closed and b.closed else 0.0,
                    bps,
                )
            )
        if not same:
            order = orders.get(live[i][1]) if i is not None else None
            kind, text = _size_cause(a, b, order, causes)
            out.append(Difference(kind, text, gap + (money if a.closed and b.closed else 0.0)))
    return matched, out


def _attributed(cause: Cause | None, what: str, gap: float) -> Difference:
    if cause is None:
        return Difference("unexplained", f"UNEXPLAINED: {what}", gap)
    return Difference(cause.kind, f"{what}: {cause.text}", gap)


def _size_cause(
    a: RefTrade, b: RefTrade, order: OrderFacts | None, causes: list[Cause]
) -> tuple[str, str]:
    what = f"size {a.size:+g} live, {b.size:+g} in the backtest (entered bar {a.entry_bar})"
    if order is not None and order.qty is not None and order.filled < order.qty - 1e-9:
        return "partial", (
            f"{what}: order {order.client_order_id} partially filled, "
            f"{order.filled:g} of {order.qty:g}"
        )
    if order is not None and order.asked is not None and abs(order.asked) < 1:
        return "quantity", (
            f"{what}: the strategy asked {abs(order.asked):g} of its equity, converted to "
            f"{order.qty:g} at submission from the last close (the backtest sizes it at the "
            "fill's price)"
        )
    cause = _cause_before(causes, a.entry_bar)
    if cause is not None:
        return cause.kind, f"{what}: {cause.text}"
    return "unexplained", f"UNEXPLAINED: {what}"


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
        matched, diffs = _compare_external(live, reference.trades, causes, orders, index)
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
