"""The verification said in plain text: per strategy, whether it traded as its backtest, and
each difference with its cause and its part of the P&L gap."""

from __future__ import annotations

from collections import defaultdict

from . import Verification, strategies_of

__all__ = ["render_text"]

_NAMES = {
    "slippage": "slippage",
    "quantity": "quantity converted at submission",
    "partial": "partial fills",
    "rejected": "broker rejections",
    "canceled": "broker cancellations",
    "risk": "risk refusals / kill switch",
    "paused-feed": "paused feed",
    "operator": "operator actions",
    "restart": "run down (restart)",
    "unexplained": "UNEXPLAINED",
    "bug": "BUG",
}


def render_text(verification: Verification) -> list[str]:
    lines: list[str] = []
    for sid in strategies_of(verification.results):
        mine = [r for r in verification.results if r.strategy_id == sid]
        matched = sum(r.matched for r in mine)
        total = sum(r.backtest_trades for r in mine)
        made = sum(r.live_trades for r in mine)
        live = sum(r.live_pnl for r in mine)
        back = sum(r.backtest_pnl for r in mine)
        bad = sum(len(r.unexplained) for r in mine)
        kind = "paper/replay (exact)" if mine[0].fills == "book" else "real broker"
        verdict = (
            "IDENTICAL to its backtest"
            if not any(r.differences for r in mine)
            else ("every difference explained" if not bad else f"{bad} UNEXPLAINED difference(s)")
        )
        lines.append(f"{sid} [{kind}]: {verdict}")
        lines.append(
            f"  trades matched {matched}/{total} (live made {made}); closed P&L live "
            f"{live:,.2f} vs backtest {back:,.2f} on the same bars (gap {live - back:+,.2f})"
        )
        parts: dict[str, float] = defaultdict(float)
        for result in mine:
            for note in result.notes:
                lines.append(f"  note: {note}")
            for diff in result.differences:
                parts[diff.cause] += diff.pnl_gap
                lines.append(f"  - [{diff.cause}] {result.symbol}: {diff.text}")
        slip = [d for r in mine for d in r.differences if d.slippage_bps is not None]
        if slip:
            bps = sum(d.slippage_bps or 0.0 for d in slip) / len(slip)
            lines.append(
                f"  slippage: {len(slip)} trade(s) cost {-parts['slippage']:,.2f} in total, "
                f"{bps:+.1f} bps on average"
            )
        if parts:
            said = ", ".join(f"{_NAMES.get(k, k)} {v:+,.2f}" for k, v in parts.items())
            lines.append(f"  the gap by cause: {said}")
    drifted = {drift.symbol for drift in verification.drift}
    for late in verification.late:
        if late.symbol not in drifted:  # else said in its data-drift section
            lines += late.lines()
    for drift in verification.drift:
        lines += drift.lines()  # type: ignore[attr-defined]
    return lines
