"""The controls table (schema 2): a v1 ledger migrated in place, requests and their
acknowledgements, the run's heartbeat, and new ledgers that only their owner can open."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.ledger import SCHEMA_VERSION, Ledger
from stratequeue.ledger.controls import ALIVE_SECONDS, os_user
from stratequeue.ledger.schema import MIGRATIONS

T = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)


def _v1_ledger(path):
    """A ledger as StrateQueue wrote it before schema 2, with a run and a strategy in it."""
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[1])
    con.execute("INSERT INTO meta VALUES ('ledger_id', 'abcd1234')")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(
        "INSERT INTO runs (started_at, mode, broker, data_source, granularity, symbols) "
        "VALUES ('2024-06-03T13:00:00+00:00', 'paper', 'paper', 'demo', '1m', 'AAPL')"
    )
    con.execute("INSERT INTO strategies VALUES ('sma', 'sma.py', 0.5, 50000, 'AAPL', '2024-06-03')")
    con.commit()
    con.close()


def test_a_v1_ledger_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    _v1_ledger(path)
    ledger = Ledger(path)
    assert SCHEMA_VERSION >= 2
    assert ledger.schema_version == SCHEMA_VERSION
    assert ledger.ledger_id == "abcd1234"
    assert [r["strategy_id"] for r in ledger.strategies()] == ["sma"]
    run = ledger.table("runs")[0]
    assert run["heartbeat_at"] is None and run["mode"] == "paper"
    assert ledger.controls() == []
    cid = ledger.request_control("pause", "sma")
    assert ledger.control(cid)["status"] == "pending"


def test_a_request_is_acknowledged_in_its_row(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    run_id = ledger.start_run(
        mode="paper",
        broker="paper",
        data_source="demo",
        granularity="1m",
        symbols=["AAPL"],
        account_equity=1.0,
    )
    first = ledger.request_control("pause", "sma", "AAPL")
    second = ledger.request_control("allocate", "sma", args={"fraction": 0.25})
    assert [c["id"] for c in ledger.pending_controls()] == [first, second]
    assert ledger.pending_controls()[1]["args"] == {"fraction": 0.25}
    assert ledger.control(first)["requested_by"] == os_user()
    ledger.acknowledge_control(first, run_id, T, "applied", "sma paused")
    ledger.acknowledge_control(second, run_id, T, "refused", "too much")
    assert not ledger.has_pending_controls()
    row = ledger.control(first)
    assert (row["status"], row["run_id"], row["result"]) == ("applied", run_id, "sma paused")
    assert row["bar_time"] == T.isoformat()
    assert [c["kind"] for c in ledger.applied_controls(("pause", "resume"))] == ["pause"]
    with pytest.raises(ValueError, match="unknown control kind 'buy'"):
        ledger.request_control("buy", "sma")


def test_a_run_is_active_while_its_heartbeat_is_fresh(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    run_id = ledger.start_run(
        mode="paper",
        broker="paper",
        data_source="demo",
        granularity="1m",
        symbols=["AAPL"],
        account_equity=1.0,
    )
    assert ledger.active_run() is None  # started, never beat: not known to be alive
    ledger.beat(run_id)
    assert ledger.active_run() == run_id
    later = datetime.now(UTC) + timedelta(seconds=ALIVE_SECONDS + 1)
    assert ledger.active_run(later) is None  # killed: its heartbeat went stale
    ledger.end_run(run_id, "feed ended")
    assert ledger.active_run() is None


def test_a_new_ledger_is_private_to_its_owner(tmp_path):
    path = tmp_path / "new.sqlite"
    Ledger(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
