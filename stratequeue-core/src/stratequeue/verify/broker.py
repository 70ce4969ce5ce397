"""Comparing a sleeve's trades at a real broker with its backtest's: pairs, slippage, sizes, and
the stretches where the live position is not the backtest's (each put down to what started it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .causes import Cause, OrderFacts
from .diffs import Difference, attributed, cause_before, say
from .reference import RefTrade

__all__ = ["compare_external", "merge_pieces"]


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


def compare_external(
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
            f"live {say(a, index)}; backtest {say(b, index)}"
            if a is not None and b is not None
            else f"only the {'live run' if a is not None else 'backtest'} made the trade "
            f"{say(both[0], index)}"
        )
        own = None
        if a is not None and b is not None and i is not None and a.size != b.size:
            own = _size_cause(a, b, orders.get(live[i][1]), [])
        if start is not None and not same and (own is None or own[0] == "unexplained"):
            cause = cause_before(causes, start)
            out.append(attributed(cause, f"{what} (positions differ from bar {start})", gap))
            continue
        if a is None or b is None:
            out.append(attributed(cause_before(causes, first), what, gap))
            continue
        money, bps = _slippage(a, b)
        if money:
            out.append(
                Difference(
                    "slippage",
                    f"{say(a, index)}: filled vs the backtest's {b.entry_price:.6g}"
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
    cause = cause_before(causes, a.entry_bar)
    if cause is not None:
        return cause.kind, f"{what}: {cause.text}"
    return "unexplained", f"UNEXPLAINED: {what}"
