"""Reporting: each bar's snapshot of the strategies it touched, and the per-strategy summary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .state import Sleeve, avg_price

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["snapshot", "strategy_summary"]


def snapshot(p: Portfolio, ts: datetime, sleeves: Sequence[Sleeve]) -> None:
    """Cash, equity and positions of the strategies trading ``sleeves``, into the ledger."""
    for strategy_id in dict.fromkeys(s.strategy_id for s in sleeves):
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
        closed = [t for s in own for t in list(s.runner.closed_trades)[s.closed_before :]]
        wins = sum(1 for t in closed if t.pl > 0)
        out.append(
            {
                "strategy_id": strategy_id,
                "allocation": own[0].spec.allocation,
                "capital": capital,
                "equity": equity,
                "pnl": equity - capital,
                "trades": len(closed),
                "win_rate": wins / len(closed) if closed else None,
                "positions": {s.symbol: float(s.runner.position_size) for s in own},
            }
        )
    return out
