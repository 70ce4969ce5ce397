"""What ``stratequeue verify`` needs to re-run each sleeve's backtest after the fact.

Per run: how its books were filled (``book``: by backtesting.py's rules, a paper or replay run;
``external``: by a real broker), the paper cash, the warm-up length asked for and the
``Backtest`` options. Per run and strategy: the strategy file, the SHA-256 of its content when
the run started and its parameters (a verification refuses a file changed since). Per sleeve
(:mod:`.runs`): the hash of its warm-up bars. ``run_events``: what changed what a strategy
could do and is not already an order, a sleeve event or a control (a restart's warm start).
The bars themselves (warm-up and live) are the bars table; refusals (risk, stale feed,
operator pause) are orders with status ``rejected``; operator actions are the controls table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..models import Bar
from .connection import LedgerConnection, _now, _ts

__all__ = ["OPAQUE", "VerificationRecords", "bars_sha256", "file_sha256"]


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def bars_sha256(bars: Iterable[Bar]) -> str:
    """The hash of a bar series as the ledger keeps it (UTC ISO time and the five floats)."""
    digest = hashlib.sha256()
    for bar in bars:
        row = (_ts(bar.timestamp), bar.open, bar.high, bar.low, bar.close, bar.volume)
        digest.update(repr(row).encode())
    return digest.hexdigest()


def _opaque(value: object) -> dict[str, str]:
    """An option JSON cannot keep (a commission function): kept as what it was, which a
    verification refuses to guess (:func:`opaque_option`)."""
    return {OPAQUE: repr(value)}


#: the key marking an option that could not be kept
OPAQUE = "not-kept"


class VerificationRecords(LedgerConnection):
    def record_run_settings(
        self,
        run_id: int,
        *,
        fills: str,
        replay: bool,
        cash: float,
        lookback: int | None,
        backtest_options: Mapping[str, Any],
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO run_settings VALUES (?, ?, ?, ?, ?, ?)",
            (
                run_id,
                fills,
                int(replay),
                cash,
                lookback,
                json.dumps(dict(backtest_options), sort_keys=True, default=_opaque),
            ),
        )

    def run_settings(self) -> dict[int, dict[str, Any]]:
        """Each run's settings (runs of a StrateQueue before schema 3 have none)."""
        return {
            r["run_id"]: {**r, "backtest_options": json.loads(r["backtest_options"])}
            for r in self._rows("SELECT * FROM run_settings ORDER BY run_id")
        }

    def record_strategy_file(
        self, run_id: int, strategy_id: str, file: str, sha256: str, params: Mapping[str, Any]
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO strategy_files VALUES (?, ?, ?, ?, ?)",
            (run_id, strategy_id, file, sha256, json.dumps(dict(params), sort_keys=True)),
        )

    def strategy_files(self, strategy_id: str) -> list[dict[str, Any]]:
        """The file each run of ``strategy_id`` loaded, oldest run first."""
        return [
            {**r, "params": json.loads(r["params"])}
            for r in self._rows(
                "SELECT * FROM strategy_files WHERE strategy_id=? ORDER BY run_id", (strategy_id,)
            )
        ]

    def add_run_event(
        self,
        run_id: int,
        kind: str,
        detail: Mapping[str, Any] | None = None,
        *,
        strategy_id: str | None = None,
        symbol: str | None = None,
    ) -> None:
        self._write(
            "INSERT INTO run_events (run_id, strategy_id, symbol, kind, detail, ts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                run_id,
                strategy_id,
                symbol,
                kind,
                json.dumps(dict(detail or {}), sort_keys=True),
                _now(),
            ),
        )

    def run_events(self) -> list[dict[str, Any]]:
        return [
            {**r, "detail": json.loads(r["detail"])}
            for r in self._rows("SELECT * FROM run_events ORDER BY id")
        ]
