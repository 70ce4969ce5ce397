"""Data drift: the bars the run received against a vendor's history of the same period.

The vendor's source is built as a run builds it (its plugin, the environment's keys) with its
clock set to the end of the run's bars, and asked for its history (``history(symbol, n)``:
every data source's warm-up call) back to the first bar the run's books saw. Reported: bars
the vendor has and the run never received (missing), live bars that came late (more than one
interval after their close: :mod:`.arrival`), bars the run received that the vendor
does not have, prices that differ by more than a tick, volumes that differ, and what the
backtest would have traded on the vendor's bars instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..data import create_data_source
from ..granularity import parse_granularity
from ..ledger import Ledger
from ..models import Bar
from .reference import RefTrade, run_reference

__all__ = ["Drift", "check_drift", "instrument_tick"]


def instrument_tick(bars: list[Bar]) -> float:
    """The instrument's tick as the vendor's prices show it: the finest decimal step they use
    (a cent for US stocks above $1, 0.00001 for a five-digit FX quote, 1 for whole prices)."""
    finest = 0
    for bar in bars:
        for price in (bar.open, bar.high, bar.low, bar.close):
            if price != price:
                continue
            decimals = 0
            while decimals < 8 and abs(round(price, decimals) - price) > 1e-9 * max(
                1.0, abs(price)
            ):
                decimals += 1
            finest = max(finest, decimals)
    return 10.0**-finest


@dataclass
class Drift:
    symbol: str
    source: str
    received: int
    vendor: int
    missing: list[datetime] = field(default_factory=list)
    extra: list[datetime] = field(default_factory=list)
    prices: list[str] = field(default_factory=list)
    volumes: int = 0
    trades: list[str] = field(default_factory=list)
    #: the late bars' line (:meth:`.arrival.Lateness.line`), None when none came late
    late: str | None = None
    #: the instrument's tick (:func:`instrument_tick`): prices closer than this are the same
    tick: float = 0.01

    def lines(self) -> list[str]:
        out = [
            f"data drift {self.symbol} vs {self.source}: {self.received} bars received, "
            f"{self.vendor} in the vendor's history of the period"
        ]
        if self.missing:
            shown = ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in self.missing[:5])
            out.append(f"  missing: {len(self.missing)} bar(s) never received ({shown})")
        if self.late:
            out.append(f"  {self.late}")
        if self.extra:
            shown = ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in self.extra[:5])
            out.append(f"  not in the vendor's history: {len(self.extra)} bar(s) ({shown})")
        if self.prices:
            out.append(
                f"  prices differ by more than a tick ({self.tick:g}): {len(self.prices)} bar(s)"
            )
            out += [f"    {p}" for p in self.prices[:5]]
        if self.volumes:
            out.append(f"  volumes differ: {self.volumes} bar(s)")
        if not (self.missing or self.late or self.extra or self.prices or self.volumes):
            out.append("  the bars are the vendor's")
        out += [f"  {t}" for t in self.trades]
        return out


def _key(t: RefTrade) -> tuple[object, ...]:
    return (t.entry_time, t.size, t.entry_price, t.exit_time, t.exit_price)


def _first_difference(ours: list[RefTrade], theirs: list[RefTrade]) -> str | None:
    for k in range(max(len(ours), len(theirs))):
        a = ours[k] if k < len(ours) else None
        b = theirs[k] if k < len(theirs) else None
        if a is None or b is None or _key(a) != _key(b):

            def say(t: RefTrade | None) -> str:
                if t is None:
                    return "no trade"
                when = f"{t.entry_time:%Y-%m-%d %H:%M}" if t.entry_time else "?"
                text = f"size {t.size:+g} entered {when} at {t.entry_price:.6g}"
                if t.exit_time is not None and t.exit_price is not None:
                    text += f", exited {t.exit_time:%Y-%m-%d %H:%M} at {t.exit_price:.6g}"
                return text

            return f"first different trade (#{k + 1}): received bars {say(a)}; vendor's {say(b)}"
    return None


def _compare_bars(drift: Drift, ours: list[Bar], theirs: list[Bar]) -> None:
    mine = {b.timestamp: b for b in ours}
    vendor = {b.timestamp: b for b in theirs}
    drift.tick = instrument_tick(theirs)
    beyond = drift.tick * (1 + 1e-9)
    drift.missing = sorted(set(vendor) - set(mine))
    drift.extra = sorted(set(mine) - set(vendor))
    for ts in sorted(set(mine) & set(vendor)):
        a, b = mine[ts], vendor[ts]
        off = [
            f"{name} {x:.6g} vs {y:.6g}"
            for name, x, y in (
                ("open", a.open, b.open),
                ("high", a.high, b.high),
                ("low", a.low, b.low),
                ("close", a.close, b.close),
            )
            if abs(x - y) > beyond
        ]
        if off:
            drift.prices.append(f"{ts:%Y-%m-%d %H:%M}: " + ", ".join(off))
        if a.volume != b.volume and not (a.volume != a.volume and b.volume != b.volume):
            drift.volumes += 1


def check_drift(verification: object, source_name: str) -> list[Drift]:
    """Compare every verified symbol's bars with ``source_name``'s history of the period."""
    from . import Verification

    assert isinstance(verification, Verification)
    ledger = Ledger(verification.db)
    try:
        runs = ledger.table("runs")
    finally:
        ledger.close()
    granularity = runs[-1]["granularity"]
    out = []
    by_symbol: dict[str, list[int]] = {}
    for k, sleeve in enumerate(verification.sleeves):
        by_symbol.setdefault(sleeve.symbol, []).append(k)
    for symbol, members in by_symbol.items():
        longest = max(members, key=lambda k: len(verification.sleeves[k].bars))
        ours = verification.sleeves[longest].bars
        if not ours:
            continue
        first, last = ours[0].timestamp, ours[-1].timestamp
        step = parse_granularity(granularity).timedelta
        end = last + step  # the vendor's history as of the end of the run's last bar
        source = create_data_source(source_name, granularity, os.environ, clock=lambda end=end: end)
        try:
            fetched = source.history(symbol, int((last - first) / step) + 1)
        finally:
            source.close()
        theirs = [b for b in fetched if first <= b.timestamp <= last]
        drift = Drift(symbol, source_name, len(ours), len(theirs))
        drift.late = next((x.line() for x in verification.late if x.symbol == symbol), None)
        _compare_bars(drift, ours, theirs)
        for k in members:
            sleeve = verification.sleeves[k]
            warm_end = sleeve.bars[sleeve.history - 1].timestamp if sleeve.history else None
            history = sum(1 for b in theirs if warm_end is not None and b.timestamp <= warm_end)
            vendor_ref = run_reference(replace(sleeve, bars=theirs, history=history))
            received = verification.references[k]
            gap = vendor_ref.pnl - received.pnl
            drift.trades.append(
                f"{sleeve.strategy_id}: a backtest on the vendor's bars makes "
                f"{len(vendor_ref.trades)} trade(s), P&L {vendor_ref.pnl:,.2f}; on the bars "
                f"received {len(received.trades)}, P&L {received.pnl:,.2f} ({gap:+,.2f})"
            )
            said = _first_difference(received.trades, vendor_ref.trades)
            if said:
                drift.trades.append(f"  {said}")
        out.append(drift)
    return out
