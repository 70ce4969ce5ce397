"""Runs, strategies and sleeves: what a restart needs to rebuild each strategy's book."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .connection import LedgerConnection, _now, _ts

__all__ = ["RunRecords"]


class RunRecords(LedgerConnection):
    def start_run(
        self,
        *,
        mode: str,
        broker: str,
        data_source: str,
        granularity: str,
        symbols: Sequence[str],
        account_equity: float | None,
        extractor: str = "backtesting",
    ) -> int:
        """A new run; ``extractor``: the signal extractor that loaded its strategy files."""
        cur = self._write(
            "INSERT INTO runs (started_at, mode, broker, data_source, granularity, symbols, "
            "account_equity, extractor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _now(),
                mode,
                broker,
                data_source,
                granularity,
                ",".join(symbols),
                account_equity,
                extractor,
            ),
        )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, reason: str) -> None:
        self._write(
            "UPDATE runs SET ended_at=?, end_reason=? WHERE run_id=?", (_now(), reason, run_id)
        )

    def previous_run_start(self, run_id: int) -> datetime | None:
        """When the run before ``run_id`` started (None for the ledger's first run)."""
        row = self.db.execute(
            "SELECT started_at FROM runs WHERE run_id < ? ORDER BY run_id DESC LIMIT 1", (run_id,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def upsert_strategy(
        self, strategy_id: str, file: str, allocation: float, capital: float, symbols: Sequence[str]
    ) -> None:
        self._write(
            "INSERT INTO strategies VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(strategy_id) DO UPDATE SET "
            "file=excluded.file, allocation=excluded.allocation, capital=excluded.capital, "
            "symbols=excluded.symbols, updated_at=excluded.updated_at",
            (strategy_id, file, allocation, capital, ",".join(symbols), _now()),
        )

    def strategies(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM strategies ORDER BY strategy_id")

    def add_sleeve(
        self,
        strategy_id: str,
        symbol: str,
        capital: float,
        history_bars: int,
        first_live: datetime | None,
        flattened: bool,
        history_sha256: str | None = None,
    ) -> None:
        """A strategy's book on ``symbol``: its capital and warm-up (``history_bars`` bars up to
        ``first_live``, kept in the bars table; ``history_sha256`` their hash, see
        :func:`stratequeue.ledger.verification.bars_sha256`)."""
        self._write(
            "INSERT OR REPLACE INTO sleeves (strategy_id, symbol, capital, history_bars, "
            "first_live, flattened, history_sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                strategy_id,
                symbol,
                capital,
                history_bars,
                _ts(first_live) if first_live else None,
                int(flattened),
                history_sha256,
            ),
        )

    def sleeve(self, strategy_id: str, symbol: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT * FROM sleeves WHERE strategy_id=? AND symbol=?", (strategy_id, symbol)
        )
        return rows[0] if rows else None

    def sleeves(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM sleeves ORDER BY strategy_id, symbol")

    def add_sleeve_event(
        self,
        strategy_id: str,
        symbol: str,
        after: datetime | None,
        kind: str,
        amount: float = 0.0,
        ref: str | None = None,
    ) -> None:
        """A change to a sleeve's book outside its bars, replayed after the bar at ``after`` when
        the book is rebuilt: 'capital' (an allocation change), 'close' (its positions closed:
        --rebalance close, a kill switch), 'refuse' (order ``ref`` refused by a risk rule)."""
        self._write(
            "INSERT INTO sleeve_events (strategy_id, symbol, after_ts, kind, amount, ref, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (strategy_id, symbol, _ts(after) if after else None, kind, amount, ref, _now()),
        )

    def sleeve_events(self, strategy_id: str, symbol: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM sleeve_events WHERE strategy_id=? AND symbol=? ORDER BY id",
            (strategy_id, symbol),
        )
