"""``stratequeue report``: a self-contained HTML report (bokeh, inlined) from a ledger file.

``stats`` holds the pure statistics on pandas frames, ``analytics`` the returns distribution
and probabilistic Sharpe ratio (scipy, the ``analytics`` extra), ``data`` reads the ledger,
``html`` renders; :func:`write_report` ties them together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analytics import ReturnsStats, returns_stats, scipy_available
from .checked import verification_section
from .data import load_frames
from .stats import ACCOUNT, CurveStats, account_curve, curve_stats, strategy_curves

__all__ = ["Report", "write_report"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote: the file, each curve's name, and their statistics.

    ``returns`` is each curve's returns distribution and probabilistic Sharpe ratio, or None
    when scipy is not installed (the report then names the ``analytics`` extra).
    """

    path: Path
    curves: list[str]
    stats: list[CurveStats]
    returns: list[ReturnsStats] | None = None


def write_report(db: Path, out: Path, verification: Any = None) -> Report:
    """Read the ledger ``db`` and write the HTML report to ``out`` (with ``verification``, a
    :class:`stratequeue.verify.Verification`: its section, both equity curves on one chart).

    Raises:
        UsageError: ``db`` is not a ledger, or holds no equity snapshot yet.
    """
    from .html import render_report

    frames = load_frames(db)
    curves = {ACCOUNT: account_curve(frames.equity), **strategy_curves(frames.equity)}
    stats = [curve_stats(ACCOUNT, curves[ACCOUNT], frames.positions, frames.trades)]
    for sid, curve in curves.items():
        if sid == ACCOUNT:
            continue
        mine = frames.positions["strategy_id"] == sid
        stats.append(
            curve_stats(
                sid,
                curve,
                frames.positions[mine],
                frames.trades[frames.trades["strategy_id"] == sid],
            )
        )
    returns = (
        [returns_stats(name, curve) for name, curve in curves.items()]
        if scipy_available()
        else None
    )
    modes = sorted({f"{r['mode']} via {r['broker']}, {r['granularity']} bars" for r in frames.runs})
    subtitle = f"Ledger {db}: {len(frames.runs)} run(s) ({'; '.join(modes) or 'none recorded'})."
    text = render_report(
        title="StrateQueue report",
        curves=curves,
        stats=stats,
        trades=frames.trades,
        subtitle=subtitle,
        controls=frames.controls,
        returns=returns,
        verification=None if verification is None else verification_section(verification, frames),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    log.info("report: %d curves, %d trades -> %s", len(curves), len(frames.trades), out)
    return Report(path=out, curves=list(curves), stats=stats, returns=returns)
