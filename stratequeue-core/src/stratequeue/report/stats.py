"""Report statistics: pure functions on pandas frames read from the ledger.

Frames (as :mod:`stratequeue.report.data` reads them):

- equity: columns ``ts`` (UTC datetime), ``strategy_id``, ``cash``, ``equity``
- positions: columns ``ts``, ``strategy_id``, ``symbol``, ``qty``
- trades: columns ``strategy_id``, ``status`` ('open'/'closed'), ``pnl``, ...

Returns and drawdowns are fractions (0.05 is 5 %); nothing here formats for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ACCOUNT",
    "CurveStats",
    "account_curve",
    "curve_stats",
    "drawdown",
    "exposure",
    "max_drawdown",
    "periods_per_year",
    "sharpe",
    "strategy_curves",
    "total_return",
    "win_rate",
]

#: The name the account (all strategies together) goes by in curves and statistics.
ACCOUNT = "Account"

_DAY = 86_400.0


@dataclass(frozen=True)
class CurveStats:
    """One row of the statistics table (fractions, not percentages)."""

    name: str
    start_equity: float
    end_equity: float
    total_return: float
    sharpe: float
    max_drawdown: float
    win_rate: float
    trades: int
    exposure: float


def strategy_curves(equity: pd.DataFrame) -> dict[str, pd.Series]:
    """Each strategy's equity, indexed by time, in the order strategies first appear."""
    curves: dict[str, pd.Series] = {}
    for sid in dict.fromkeys(equity["strategy_id"]):
        rows = equity[equity["strategy_id"] == sid]
        curves[str(sid)] = pd.Series(
            rows["equity"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["ts"]), name=sid
        ).sort_index()
    return curves


def account_curve(equity: pd.DataFrame) -> pd.Series:
    """The account's equity at every snapshot time: the sum over strategies, each strategy
    carrying its last value forward (a strategy counts from its first snapshot on)."""
    wide = equity.pivot_table(index="ts", columns="strategy_id", values="equity", aggfunc="last")
    total = wide.sort_index().ffill().sum(axis=1, min_count=1)
    total.index = pd.DatetimeIndex(total.index)
    return total.rename(ACCOUNT)


def drawdown(curve: pd.Series) -> pd.Series:
    """How far below its running peak the curve is at each point (0 or negative)."""
    return curve / curve.cummax() - 1.0


def max_drawdown(curve: pd.Series) -> float:
    """The deepest drawdown (0 or negative); 0 for an empty curve."""
    return float(drawdown(curve).min()) if len(curve) else 0.0


def total_return(curve: pd.Series) -> float:
    """Last value over first, minus one; 0 for an empty curve or one starting at 0."""
    if len(curve) < 1 or curve.iloc[0] == 0:
        return 0.0
    return float(curve.iloc[-1] / curve.iloc[0] - 1.0)


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year, from the median spacing between snapshots.

    Daily or finer bars count 252 trading days a year when no bar falls on a weekend (stocks)
    and 365 otherwise (crypto); a bar every ``s`` seconds makes ``86400 / s`` bars a day.
    Bars coarser than a day count calendar time (weekly: 52.1, monthly: about 12).
    Returns NaN when fewer than two distinct timestamps exist.
    """
    unique = index.unique().sort_values()
    if len(unique) < 2:
        return math.nan
    spacing = float(np.median((unique[1:] - unique[:-1]).total_seconds()))
    if spacing <= 0:
        return math.nan
    if spacing > _DAY * 1.5:
        return 365.25 * _DAY / spacing
    days = 365.0 if bool((unique.day_of_week >= 5).any()) else 252.0
    return days * max(1.0, _DAY / spacing)


def sharpe(curve: pd.Series, per_year: float) -> float:
    """Annualised Sharpe ratio (risk-free rate 0): mean / standard deviation of the per-bar
    returns times sqrt(bars per year). NaN when it cannot be computed (flat or too short)."""
    returns = curve.pct_change().dropna()
    if len(returns) < 2 or not math.isfinite(per_year):
        return math.nan
    std = float(returns.std(ddof=1))
    if std == 0 or not math.isfinite(std):
        return math.nan
    return float(returns.mean()) / std * math.sqrt(per_year)


def win_rate(trades: pd.DataFrame) -> tuple[float, int]:
    """Share of closed trades with a positive P&L, and how many trades closed (NaN if none)."""
    closed = trades[trades["status"] == "closed"]
    if closed.empty:
        return math.nan, 0
    return float((closed["pnl"] > 0).mean()), len(closed)


def exposure(snapshot_times: pd.Index, positions: pd.DataFrame) -> float:
    """Share of snapshots at which a non-zero position was held (any symbol)."""
    times = pd.DatetimeIndex(snapshot_times).unique()
    if len(times) == 0:
        return math.nan
    held = pd.DatetimeIndex(positions.loc[positions["qty"].abs() > 1e-12, "ts"]).unique()
    return float(times.isin(held).mean())


def curve_stats(
    name: str, curve: pd.Series, positions: pd.DataFrame, trades: pd.DataFrame
) -> CurveStats:
    """The statistics of one curve, given the positions and trades that belong to it."""
    rate, count = win_rate(trades)
    return CurveStats(
        name=name,
        start_equity=float(curve.iloc[0]) if len(curve) else math.nan,
        end_equity=float(curve.iloc[-1]) if len(curve) else math.nan,
        total_return=total_return(curve),
        sharpe=sharpe(curve, periods_per_year(pd.DatetimeIndex(curve.index))),
        max_drawdown=max_drawdown(curve),
        win_rate=rate,
        trades=count,
        exposure=exposure(curve.index, positions),
    )
