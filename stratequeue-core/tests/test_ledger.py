from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from stratequeue.errors import UsageError
from stratequeue.ledger import SCHEMA_VERSION, Allocation, Ledger
from stratequeue.models import BrokerOrder, Fill, OrderStatus, Side

T = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)


def test_new_ledger_is_wal_and_versioned(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.schema_version == SCHEMA_VERSION
    assert len(ledger.ledger_id) == 8
    again = Ledger(tmp_path / "l.sqlite")
    assert again.ledger_id == ledger.ledger_id


def test_newer_schema_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path).db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(UsageError, match="newer than this StrateQueue understands.*pip install -U"):
        Ledger(path)


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    with pytest.raises(UsageError, match="not a StrateQueue ledger"):
        Ledger(path)


def test_order_is_written_once_and_fills_are_kept_once(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    order = BrokerOrder("cid-1", "AAPL", Side.BUY, 10.0)
    assert ledger.record_order(1, order, [("a", "r1", 6.0), ("b", "r2", 4.0)])
    assert not ledger.record_order(1, order, [("a", "r1", 6.0)])
    ledger.update_order("cid-1", OrderStatus.ACCEPTED, event="sent", broker_order_id="B1")
    fill = Fill("cid-1", "AAPL", Side.BUY, 10.0, 100.0, T, 0.0, "exec-1")
    allocations = [
        Allocation("a", "AAPL", "r1", 6.0, 100.0),
        Allocation("b", "AAPL", "r2", 4.0, 100.0),
    ]
    assert ledger.record_fill(fill, allocations)
    assert not ledger.record_fill(fill, allocations)
    assert ledger.strategy_positions() == {("a", "AAPL"): 6.0, ("b", "AAPL"): 4.0}
    assert ledger.order("cid-1")["broker_order_id"] == "B1"
    assert [e["event"] for e in ledger.table("order_events")] == ["sent"]


def test_transaction_rolls_back_everything_on_error(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.record_order(1, BrokerOrder("cid-2", "AAPL", Side.SELL, 1.0), [])
        raise RuntimeError("crash")
    assert ledger.order("cid-2") is None


def test_partial_close_reduces_the_open_trade(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.open_trade("s", "AAPL", "t1", 10, 5, 100.0, T, None, None, None)
    ledger.close_trade(
        "s",
        "AAPL",
        "t1",
        size=4,
        entry_bar=5,
        exit_bar=7,
        entry_price=100.0,
        exit_price=110.0,
        sl=None,
        tp=None,
        pnl=40.0,
        commission=0.0,
        return_pct=0.1,
        entry_time=T,
        exit_time=T,
        tag=None,
    )
    rows = ledger.trades()
    assert [(r["status"], r["size"]) for r in rows] == [("closed", 4), ("open", 6)]
