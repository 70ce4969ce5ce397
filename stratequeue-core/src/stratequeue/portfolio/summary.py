"""Reporting: each bar's snapshot of the strategies it touched, and the per-strategy summary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .state import ClosedTally, Sleeve, avg_price

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["snapshot", "snapshot_strategies", "strategy_summary"]


def snapshot(p: Portfolio, ts: datetime, sleeves: Sequence[Sleeve]) -> None:
    """Cash, equity and positions of the strategies trading ``sleeves``, into the ledger."""
    snapshot_strategies(p, ts, list(dict.fromkeys(s.strategy_id for s in sleeves)))


def snapshot_strategies(p: Portfolio, ts: datetime, strategy_ids: Sequence[str]) -> None:
    """Cash, equity and positions of ``strategy_ids``, into the ledger."""
    for strategy_id in strategy_ids:
        own = p.by_strategy[strategy_id]
        cash = sum(float(s.runner.cash) for s in own)
        equity = sum(float(s.runner.equity) for s in own)
        positions = [
            (
                s.symbol,
                float(s.runner.position_size),
                avg_price(s.runner),
                p.last_price.get(s.symbol),
            )
            for s in own
        ]
        p.ledger.snapshot(ts, strategy_id, cash, equity, positions)


def strategy_summary(p: Portfolio) -> list[dict[str, Any]]:
    """Per strategy: capital, equity, P&L, closed trades and win rate (from the books)."""
    out = []
    for strategy_id in p.strategy_ids():
        own = p.by_strategy[strategy_id]
        capital = sum(s.capital for s in own)
        equity = sum(float(s.runner.equity) for s in own)
        trades = wins = 0
        for s in own:
            tally = _count_closed(s)
            trades += tally.seen
            wins += tally.wins
        out.append(
            {
                "strategy_id": strategy_id,
                "allocation": own[0].spec.allocation,
                "capital": capital,
                "equity": equity,
                "pnl": equity - capital,
                "trades": trades,
                "win_rate": wins / trades if trades else None,
                "positions": {s.symbol: float(s.runner.position_size) for s in own},
            }
        )
    return out


def _count_closed(sleeve: Sleeve) -> ClosedTally:
    """The sleeve's closed trades since its warm-up, counted once each: the display asks for
    the summary at every bar, and a book's closed trades only grow."""
    closed = sleeve.runner.closed_trades
    tally = sleeve.tally
    if tally.start != sleeve.closed_before or len(closed) < tally.start + tally.seen:
        tally = sleeve.tally = ClosedTally(sleeve.closed_before)
    fresh = closed[tally.start + tally.seen :]
    tally.seen += len(fresh)
    tally.wins += sum(1 for t in fresh if t.pl > 0)
    return tally
