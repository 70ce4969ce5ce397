"""What the comparisons share: a difference, how a trade is said, and the cause that explains
a difference from a given bar."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .causes import Cause
from .reference import RefTrade

__all__ = ["Difference", "attributed", "cause_before", "say"]


@dataclass(frozen=True)
class Difference:
    """One difference: its cause (``unexplained``, ``bug`` or a cause kind), what it is, and
    the part of the P&L gap (live minus backtest) it accounts for."""

    cause: str
    text: str
    pnl_gap: float = 0.0
    slippage_bps: float | None = None


def say(t: RefTrade, index: pd.DatetimeIndex) -> str:
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


def cause_before(
    causes: list[Cause], bar: int, kinds: tuple[str, ...] | None = None
) -> Cause | None:
    found = None
    for cause in causes:
        if cause.bar <= bar and (kinds is None or cause.kind in kinds):
            found = cause
    return found


def attributed(cause: Cause | None, what: str, gap: float) -> Difference:
    if cause is None:
        return Difference("unexplained", f"UNEXPLAINED: {what}", gap)
    return Difference(cause.kind, f"{what}: {cause.text}", gap)
