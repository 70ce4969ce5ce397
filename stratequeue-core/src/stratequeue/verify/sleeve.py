"""One sleeve (a strategy on a symbol) as the ledger kept it: the bars its book saw (its
warm-up, then every bar delivered, across restarts), its capital, options and strategy file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..ledger import Ledger
from ..ledger.verification import OPAQUE, bars_sha256, file_sha256
from ..models import Bar

__all__ = ["SleeveRecord", "load_sleeves"]


@dataclass
class SleeveRecord:
    """What a verification re-runs: ``bars`` (``history`` of them the warm-up), the capital,
    the ``Backtest`` options, and whether the book started flat after its warm-up."""

    strategy_id: str
    symbol: str
    file: Path
    bars: list[Bar]
    history: int
    capital: float
    flattened: bool
    fills: str  # "book" (paper, replay: exact) or "external" (a real broker)
    options: dict[str, Any]
    fractional_unit: float | None
    capital_events: list[tuple[datetime | None, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extractor: str = "backtesting"  # the signal extractor that read the file (--extractor)


def _unit(ledger: Ledger, strategy_id: str) -> float | None:
    kept = ledger.get_meta(f"fractional_unit:{strategy_id}")
    return None if kept in (None, "None") else float(kept)  # type: ignore[arg-type]


def _options(raw: dict[str, Any]) -> dict[str, Any]:
    options = dict(raw)
    for name, value in options.items():
        if isinstance(value, dict) and OPAQUE in value:
            raise UsageError(
                f"The run's Backtest option {name}={value[OPAQUE]} is Python code the ledger "
                "cannot keep; verify cannot re-create it. Verify runs with plain-number options."
            )
    if isinstance(options.get("commission"), list):  # a (fixed, relative) pair, JSON-kept
        options["commission"] = tuple(options["commission"])
    return options


def check_file(ledger: Ledger, strategy_id: str) -> tuple[Path, list[str]]:
    """The strategy's file, unchanged since every run that loaded it; a changed or missing
    file is refused (UsageError naming it). Returns the file and notes for the user."""
    recorded = ledger.strategy_files(strategy_id)
    if not recorded:
        rows = [r for r in ledger.strategies() if r["strategy_id"] == strategy_id]
        path = Path(rows[0]["file"])
        return path, [
            f"{strategy_id}: this ledger kept no hash of {path} (written before schema 3): "
            "verified against the file as it is now."
        ]
    hashes = {r["sha256"] for r in recorded}
    path = Path(recorded[-1]["file"])
    if len(hashes) > 1:
        raise UsageError(
            f"Strategy '{strategy_id}': its runs in this ledger loaded different versions of "
            f"{path}; verify cannot re-run one backtest for them. Verify a ledger of one version."
        )
    if not path.is_file():
        raise UsageError(
            f"Strategy '{strategy_id}': its file {path} is gone; restore it to verify the run."
        )
    now = file_sha256(path.read_bytes())
    if now not in hashes:
        raise UsageError(
            f"Strategy '{strategy_id}': {path} changed since the run (sha256 {now[:12]}, the run "
            f"loaded {recorded[-1]['sha256'][:12]}); restore that version to verify the run."
        )
    return path, []


def sleeve_bars(ledger: Ledger, row: dict[str, Any]) -> tuple[list[Bar], int, list[str]]:
    """The bars a sleeve's book saw, as a restart rebuilds them (portfolio/rebuild.py): the last
    ``history_bars`` recorded bars up to the warm-up's end, then every later bar."""
    recorded = ledger.bars(row["symbol"])
    warm_until = datetime.fromisoformat(row["first_live"]) if row["first_live"] else None
    history = [b for b in recorded if warm_until is not None and b.timestamp <= warm_until]
    history = history[-row["history_bars"] :] if row["history_bars"] else []
    live = [b for b in recorded if warm_until is None or b.timestamp > warm_until]
    notes = []
    kept = row.get("history_sha256")
    if kept and history and bars_sha256(history) != kept:
        notes.append(
            f"{row['strategy_id']} on {row['symbol']}: the warm-up bars in the ledger are not the "
            "ones the run warmed up on (hash differs): a later run recorded other values."
        )
    return history + live, len(history), notes


def load_sleeves(
    ledger: Ledger, strategy: str | None = None, symbol: str | None = None
) -> list[SleeveRecord]:
    """Every sleeve of the ledger (or of ``strategy`` / ``symbol``)."""
    rows = ledger.sleeves()
    if not rows:
        raise UsageError(
            f"Ledger '{ledger.path}' holds no run: run strategies with --db {ledger.path} first."
        )
    known = sorted({r["strategy_id"] for r in rows})
    if strategy is not None and strategy not in known:
        raise UsageError(
            f"Unknown strategy '{strategy}' in ledger '{ledger.path}': one of {', '.join(known)}."
        )
    rows = [r for r in rows if strategy is None or r["strategy_id"] == strategy]
    if symbol is not None:
        symbols = sorted({r["symbol"] for r in rows})
        if symbol.upper() not in symbols:
            raise UsageError(
                f"Unknown symbol '{symbol}' for the strategies verified: one of "
                f"{', '.join(symbols)}."
            )
        rows = [r for r in rows if r["symbol"] == symbol.upper()]
    settings = ledger.run_settings()
    first = settings[min(settings)] if settings else None
    runs = ledger.table("runs")
    out = []
    files: dict[str, tuple[Path, list[str]]] = {}
    for row in rows:
        sid = row["strategy_id"]
        if sid not in files:
            files[sid] = check_file(ledger, sid)
        path, notes = files[sid]
        bars, history, bar_notes = sleeve_bars(ledger, row)
        if first is not None:
            fills, options = first["fills"], _options(first["backtest_options"])
        else:
            fills = "book" if runs and runs[0]["broker"] == "paper" else "external"
            options = {}
            notes = [
                *notes,
                "No Backtest options recorded (ledger before schema 3): defaults used.",
            ]
        events = [
            (datetime.fromisoformat(e["after_ts"]) if e["after_ts"] else None, e["amount"])
            for e in ledger.sleeve_events(sid, row["symbol"])
            if e["kind"] == "capital"
        ]
        out.append(
            SleeveRecord(
                strategy_id=sid,
                symbol=row["symbol"],
                file=path,
                bars=bars,
                history=history,
                capital=float(row["capital"]),
                flattened=bool(row["flattened"]),
                fills=fills,
                options=options,
                fractional_unit=_unit(ledger, sid),
                capital_events=events,
                notes=[*notes, *bar_notes],
                extractor=str(ledger.get_meta(f"extractor:{sid}") or "backtesting"),
            )
        )
    return out
