"""The SQLite ledger: everything that happened, written before it matters.

Order intents and orders are committed BEFORE the order is sent (write-ahead), so a crash
between the two is recoverable; fills are keyed by the broker's execution id, so a fill
reported twice is kept once.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..models import Bar, BrokerOrder, Fill, OrderIntent, OrderStatus
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Allocation", "Ledger", "default_db_path"]

TABLES = (
    "runs",
    "strategies",
    "sleeves",
    "signals",
    "intents",
    "orders",
    "order_legs",
    "order_events",
    "fills",
    "fill_allocations",
    "trades",
    "equity",
    "positions",
    "bars",
)


def default_db_path() -> Path:
    """``~/.stratequeue/ledger.sqlite`` (``STRATEQUEUE_HOME`` moves the folder)."""
    import os

    home = os.environ.get("STRATEQUEUE_HOME")
    return (Path(home) if home else Path.home() / ".stratequeue") / "ledger.sqlite"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Allocation:
    """The part of a fill that belongs to one strategy."""

    strategy_id: str
    symbol: str
    ref: str
    qty: float  # signed
    price: float
    commission: float = 0.0


class Ledger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise UsageError(
                f"Ledger '{path}' is not a StrateQueue database ({exc}). Pass another --db file."
            ) from exc
        self._depth = 0

    # -- schema --------------------------------------------------------------------------------
    def _migrate(self) -> None:
        has_meta = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        version = 0
        if has_meta:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
        elif self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise UsageError(
                f"'{self.path}' is a SQLite file but not a StrateQueue ledger. Pass another --db file."
            )
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"Ledger '{self.path}' has schema version {version}, newer than this StrateQueue "
                f"understands ({SCHEMA_VERSION}). Upgrade: pip install -U stratequeue"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    self.db.execute(statement)
            if target == 1:
                self.db.execute("INSERT INTO meta VALUES ('ledger_id', ?)", (secrets.token_hex(4),))
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(target),)
            )
            self.db.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def ledger_id(self) -> str:
        return str(self.db.execute("SELECT value FROM meta WHERE key='ledger_id'").fetchone()[0])

    @property
    def schema_version(self) -> int:
        return int(
            self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        )

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; nested uses join the outer transaction. Commits on exit."""
        if self._depth == 0:
            self.db.execute("BEGIN")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # -- runs and strategies -----------------------------------------------------------------
    def start_run(
        self,
        *,
        mode: str,
        broker: str,
        data_source: str,
        granularity: str,
        symbols: Sequence[str],
        account_equity: float | None,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started_at, mode, broker, data_source, granularity, symbols, "
            "account_equity) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now(), mode, broker, data_source, granularity, ",".join(symbols), account_equity),
        )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, reason: str) -> None:
        self.db.execute(
            "UPDATE runs SET ended_at=?, end_reason=? WHERE run_id=?", (_now(), reason, run_id)
        )

    def upsert_strategy(
        self, strategy_id: str, file: str, allocation: float, capital: float, symbols: Sequence[str]
    ) -> None:
        self.db.execute(
            "INSERT INTO strategies VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(strategy_id) DO UPDATE SET "
            "file=excluded.file, allocation=excluded.allocation, capital=excluded.capital, "
            "symbols=excluded.symbols, updated_at=excluded.updated_at",
            (strategy_id, file, allocation, capital, ",".join(symbols), _now()),
        )

    def strategies(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM strategies ORDER BY strategy_id")

    # -- sleeves: what a restart needs to rebuild each strategy's book -------------------------
    def add_sleeve(
        self,
        strategy_id: str,
        symbol: str,
        capital: float,
        history_bars: int,
        first_live: datetime | None,
        flattened: bool,
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sleeves VALUES (?, ?, ?, ?, ?, ?)",
            (
                strategy_id,
                symbol,
                capital,
                history_bars,
                _ts(first_live) if first_live else None,
                int(flattened),
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
        self.db.execute(
            "INSERT INTO sleeve_events (strategy_id, symbol, after_ts, kind, amount, ref, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (strategy_id, symbol, _ts(after) if after else None, kind, amount, ref, _now()),
        )

    def sleeve_events(self, strategy_id: str, symbol: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM sleeve_events WHERE strategy_id=? AND symbol=? ORDER BY id",
            (strategy_id, symbol),
        )

    def bars(self, symbol: str) -> list[Bar]:
        return [
            Bar(
                r["symbol"],
                datetime.fromisoformat(r["ts"]),
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["volume"] if r["volume"] is not None else float("nan"),
            )
            for r in self._rows("SELECT * FROM bars WHERE symbol=? ORDER BY ts", (symbol,))
        ]

    def last_bar_time(self, symbol: str) -> datetime | None:
        row = self.db.execute("SELECT MAX(ts) FROM bars WHERE symbol=?", (symbol,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def intent_orders(self, strategy_id: str, symbol: str) -> dict[str, str]:
        """The client order id of each of a strategy's order refs on ``symbol``."""
        rows = self.db.execute(
            "SELECT ref, client_order_id FROM order_legs l JOIN orders o USING (client_order_id) "
            "WHERE l.strategy_id=? AND o.symbol=?",
            (strategy_id, symbol),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def fills(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM fills ORDER BY id")

    def external_fills(self, strategy_id: str, symbol: str) -> list[dict[str, Any]]:
        """A strategy's real fills on ``symbol`` (external mode), in the order they were applied,
        with the bar before which each was applied: what a rebuild replays."""
        return self._rows(
            "SELECT a.ref, a.qty, a.price, a.applied_before, f.ts FROM fill_allocations a "
            "JOIN fills f ON f.id = a.fill_id WHERE a.strategy_id=? AND a.symbol=? "
            "AND a.applied_before IS NOT NULL ORDER BY a.rowid",
            (strategy_id, symbol),
        )

    def allocations(self, fill_id: int) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM fill_allocations WHERE fill_id=?", (fill_id,))

    # -- bars and signals ---------------------------------------------------------------------
    def record_bar(self, bar: Bar) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?)",
            (bar.symbol, _ts(bar.timestamp), bar.open, bar.high, bar.low, bar.close, bar.volume),
        )

    def record_signal(
        self,
        run_id: int,
        strategy_id: str,
        symbol: str,
        bar_time: datetime,
        signal: str,
        price: float | None,
        size: float | None,
        detail: dict | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO signals (run_id, strategy_id, symbol, bar_time, signal, price, size, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                strategy_id,
                symbol,
                _ts(bar_time),
                signal,
                price,
                size,
                json.dumps(detail) if detail else None,
            ),
        )

    # -- intents and orders -------------------------------------------------------------------
    def record_intent(self, run_id: int, intent: OrderIntent, client_order_id: str | None) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO intents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                intent.strategy_id,
                intent.symbol,
                intent.ref,
                intent.action.value,
                run_id,
                _ts(intent.bar_time),
                intent.size,
                intent.order_type.value,
                intent.limit,
                intent.stop,
                intent.sl,
                intent.tp,
                intent.tag,
                intent.parent_ref,
                client_order_id,
                _now(),
            ),
        )

    def record_order(
        self, run_id: int, order: BrokerOrder, legs: Iterable[tuple[str, str, float]]
    ) -> bool:
        """Write ``order`` (status pending) and its legs (strategy, ref, size) before sending.
        Returns False when the order was already recorded (a re-derived intent)."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO orders (client_order_id, run_id, symbol, side, qty, notional, "
            "order_type, limit_price, stop_price, time_in_force, order_class, take_profit, "
            "stop_loss, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.client_order_id,
                run_id,
                order.symbol,
                order.side.value,
                order.qty,
                order.notional,
                order.order_type.value,
                order.limit_price,
                order.stop_price,
                order.time_in_force,
                order.order_class,
                order.take_profit,
                order.stop_loss,
                OrderStatus.PENDING.value,
                _now(),
                _now(),
            ),
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO order_legs VALUES (?, ?, ?, ?)",
            [(order.client_order_id, s, r, size) for s, r, size in legs],
        )
        return cur.rowcount > 0

    def update_order(
        self,
        client_order_id: str,
        status: OrderStatus,
        *,
        event: str,
        message: str = "",
        broker_order_id: str | None = None,
        filled_qty: float | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE orders SET status=?, message=COALESCE(NULLIF(?, ''), message), "
            "broker_order_id=COALESCE(?, broker_order_id), filled_qty=COALESCE(?, filled_qty), "
            "updated_at=? WHERE client_order_id=?",
            (status.value, message, broker_order_id, filled_qty, _now(), client_order_id),
        )
        self.db.execute(
            "INSERT INTO order_events (client_order_id, event, status, message, ts) VALUES (?, ?, ?, ?, ?)",
            (client_order_id, event, status.value, message, _now()),
        )

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM orders WHERE client_order_id=?", (client_order_id,))
        return rows[0] if rows else None

    def orders(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        if open_only:
            marks = ",".join(f"'{s.value}'" for s in OrderStatus if s.is_open)
            return self._rows(f"SELECT * FROM orders WHERE status IN ({marks}) ORDER BY created_at")
        return self._rows("SELECT * FROM orders ORDER BY created_at")

    def legs(self, client_order_id: str) -> list[dict[str, Any]]:
        """The strategy parts of an order, in the order they were recorded (a trade's close
        before an entry netted with it: its fill is applied to the books in this order)."""
        return self._rows(
            "SELECT * FROM order_legs WHERE client_order_id=? ORDER BY rowid", (client_order_id,)
        )

    # -- fills -------------------------------------------------------------------------------
    def record_fill(
        self, fill: Fill, allocations: Sequence[Allocation], applied_before: datetime | None = None
    ) -> bool:
        """Keep ``fill`` and who it belongs to; False if this execution was already recorded."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO fills (execution_id, client_order_id, symbol, side, qty, price, "
            "commission, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fill.execution_id,
                fill.client_order_id,
                fill.symbol,
                fill.side.value,
                fill.qty,
                fill.price,
                fill.commission,
                _ts(fill.timestamp),
            ),
        )
        if cur.rowcount == 0:
            return False
        fill_id = cur.lastrowid
        self.db.executemany(
            "INSERT INTO fill_allocations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    fill_id,
                    a.strategy_id,
                    a.symbol,
                    a.ref,
                    a.qty,
                    a.price,
                    a.commission,
                    _ts(applied_before) if applied_before else None,
                )
                for a in allocations
            ],
        )
        return True

    def filled_qty(self, client_order_id: str) -> float:
        """What the recorded fills of ``client_order_id`` (an order, or an exit leg such as
        ``<cid>/tp``) add up to: its booked cumulative quantity."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(qty), 0) FROM fills WHERE client_order_id=?", (client_order_id,)
        ).fetchone()
        return float(row[0])

    def previous_run_start(self, run_id: int) -> datetime | None:
        """When the run before ``run_id`` started (None for the ledger's first run)."""
        row = self.db.execute(
            "SELECT started_at FROM runs WHERE run_id < ? ORDER BY run_id DESC LIMIT 1", (run_id,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def has_execution(self, execution_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM fills WHERE execution_id=?", (execution_id,)).fetchone()
            is not None
        )

    def strategy_positions(self) -> dict[tuple[str, str], float]:
        """Each (strategy, symbol)'s position as its fills say."""
        rows = self.db.execute(
            "SELECT strategy_id, symbol, SUM(qty) FROM fill_allocations GROUP BY strategy_id, symbol"
        ).fetchall()
        return {(r[0], r[1]): float(r[2]) for r in rows if abs(r[2]) > 1e-12}

    # -- trades ------------------------------------------------------------------------------
    def open_trade(
        self,
        strategy_id: str,
        symbol: str,
        trade_ref: str,
        size: float,
        entry_bar: int,
        entry_price: float,
        entry_time: datetime,
        sl: float | None,
        tp: float | None,
        tag: str | None,
    ) -> None:
        self.db.execute(
            "INSERT INTO trades (strategy_id, symbol, trade_ref, status, size, entry_bar, entry_price, "
            "entry_time, sl, tp, tag) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
            (
                strategy_id,
                symbol,
                trade_ref,
                size,
                entry_bar,
                entry_price,
                _ts(entry_time),
                sl,
                tp,
                tag,
            ),
        )

    def close_trade(
        self,
        strategy_id: str,
        symbol: str,
        trade_ref: str,
        *,
        size: float,
        entry_bar: int,
        exit_bar: int,
        entry_price: float,
        exit_price: float,
        sl: float | None,
        tp: float | None,
        pnl: float,
        commission: float,
        return_pct: float,
        entry_time: datetime,
        exit_time: datetime,
        tag: str | None,
    ) -> None:
        self.db.execute(
            "INSERT INTO trades (strategy_id, symbol, trade_ref, status, size, entry_bar, exit_bar, "
            "entry_price, exit_price, sl, tp, pnl, commission, return_pct, entry_time, exit_time, tag) "
            "VALUES (?, ?, ?, 'closed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                strategy_id,
                symbol,
                trade_ref,
                size,
                entry_bar,
                exit_bar,
                entry_price,
                exit_price,
                sl,
                tp,
                pnl,
                commission,
                return_pct,
                _ts(entry_time),
                _ts(exit_time),
                tag,
            ),
        )
        row = self.db.execute(
            "SELECT seq, size FROM trades WHERE strategy_id=? AND symbol=? AND trade_ref=? "
            "AND status='open'",
            (strategy_id, symbol, trade_ref),
        ).fetchone()
        if row is not None:
            left = row["size"] - size
            if abs(left) < 1e-12:
                self.db.execute("DELETE FROM trades WHERE seq=?", (row["seq"],))
            else:
                self.db.execute("UPDATE trades SET size=? WHERE seq=?", (left, row["seq"]))

    def trades(self, strategy_id: str | None = None) -> list[dict[str, Any]]:
        """Closed trades in the order they closed, then open ones (empty exit fields)."""
        where, args = ("WHERE strategy_id=?", (strategy_id,)) if strategy_id else ("", ())
        return self._rows(f"SELECT * FROM trades {where} ORDER BY status='open', seq", args)

    # -- snapshots ---------------------------------------------------------------------------
    def snapshot(
        self,
        ts: datetime,
        strategy_id: str,
        cash: float,
        equity: float,
        positions: Iterable[tuple[str, float, float | None, float | None]],
    ) -> None:
        stamp = _ts(ts)
        self.db.execute(
            "INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)", (stamp, strategy_id, cash, equity)
        )
        self.db.executemany(
            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?)",
            [(stamp, strategy_id, sym, qty, avg, mark) for sym, qty, avg, mark in positions],
        )

    def latest_equity(self) -> dict[str, dict[str, Any]]:
        rows = self._rows(
            "SELECT e.* FROM equity e JOIN (SELECT strategy_id, MAX(ts) ts FROM equity GROUP BY "
            "strategy_id) m USING (strategy_id, ts)"
        )
        return {r["strategy_id"]: r for r in rows}

    def latest_positions(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT p.* FROM positions p JOIN (SELECT strategy_id, MAX(ts) ts FROM positions GROUP BY "
            "strategy_id) m USING (strategy_id, ts) WHERE p.qty != 0 ORDER BY strategy_id, symbol"
        )

    # -- export ------------------------------------------------------------------------------
    def table(self, name: str) -> list[dict[str, Any]]:
        if name not in TABLES:
            raise UsageError(f"Unknown ledger table '{name}'. Tables: {', '.join(TABLES)}")
        return self._rows(f"SELECT * FROM {name}")

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]
