"""Write-ahead, now that bars and snapshots wait for the next commit: what another connection
(a restarted process after a SIGKILL) finds in the ledger file at each moment that matters.

A second SQLite connection sees exactly what a crash at that moment would leave: the
committed transactions, nothing else."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stratequeue.app import App, RunConfig
from stratequeue.brokers.paper import PaperBroker
from stratequeue.ledger import Ledger
from stratequeue.models import Bar, BrokerOrder, Side
from stratequeue.portfolio.config import StrategySpec
from test_replay_parity import FILES, synthetic

T = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)


def on_file(path: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
    """What a new process opening ``path`` right now would read."""
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def bar(i: int) -> Bar:
    return Bar("X", T + timedelta(hours=i), 1.0, 2.0, 0.5, 1.5, 10.0)


def test_bars_in_which_nothing_is_ordered_wait_and_an_order_commits_them_first(tmp_path):
    path = tmp_path / "l.sqlite"
    ledger = Ledger(path)
    for i in range(3):
        with ledger.transaction():
            ledger.record_bar(bar(i))
            ledger.snapshot(bar(i).timestamp, "s", 100.0, 100.0, [("X", 0.0, None, 1.5)])
    assert on_file(path, "SELECT COUNT(*) FROM bars") == [(0,)]
    assert ledger.bars("X") == [bar(i) for i in range(3)]  # reads see them (and write them)
    assert on_file(path, "SELECT COUNT(*) FROM bars") == [(3,)]
    with ledger.transaction():
        ledger.record_bar(bar(3))
        ledger.record_order(1, BrokerOrder("cid-1", "X", Side.BUY, 1.0), [("s", "r1", 1.0)])
    # the order is committed when its transaction ends, with every bar before it
    assert on_file(path, "SELECT client_order_id FROM orders") == [("cid-1",)]
    assert on_file(path, "SELECT COUNT(*) FROM bars") == [(4,)]
    assert on_file(path, "SELECT COUNT(*) FROM equity") == [(3,)]
    with ledger.transaction():
        ledger.record_bar(bar(4))
    ledger.close()
    assert on_file(path, "SELECT COUNT(*) FROM bars") == [(5,)]


def test_a_rolled_back_transaction_loses_its_own_rows_and_keeps_those_that_waited(tmp_path):
    path = tmp_path / "l.sqlite"
    ledger = Ledger(path)
    with ledger.transaction():
        ledger.record_bar(bar(0))
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.record_bar(bar(1))
        ledger.bars("X")  # writes what waits inside this transaction ...
        ledger.record_order(1, BrokerOrder("cid-1", "X", Side.BUY, 1.0), [("s", "r1", 1.0)])
        raise RuntimeError("the bar failed")  # ... which is rolled back
    ledger.close()
    assert on_file(path, "SELECT ts FROM bars") == [(bar(0).timestamp.isoformat(),)]
    assert on_file(path, "SELECT COUNT(*) FROM orders") == [(0,)]


class _Watched(PaperBroker):
    """The paper broker, reading the ledger file as a restarted process would at the moment
    it is asked to act: an order must already be there when it is sent, a fill when it is
    booked, each with the bar it came from."""

    ledger_path: Path
    seen: list[str]

    def submit_order(self, order: BrokerOrder):  # type: ignore[no-untyped-def]
        rows = on_file(
            self.ledger_path,
            "SELECT COUNT(*) FROM orders o JOIN order_legs l USING (client_order_id) "
            "JOIN intents i ON i.strategy_id = l.strategy_id AND i.ref = l.ref "
            "JOIN bars b ON b.ts = i.bar_time WHERE o.client_order_id = ?",
            (order.client_order_id,),
        )
        assert rows[0][0] > 0, f"order {order.client_order_id} sent before it was committed"
        self.seen.append(f"order {order.client_order_id}")
        return super().submit_order(order)

    def fill_from_book(self, client_order_id, signed_qty, price, timestamp, commission=0.0, **kw):  # type: ignore[no-untyped-def]
        rows = on_file(
            self.ledger_path,
            "SELECT COUNT(*) FROM fills WHERE execution_id = ?",
            (kw.get("execution_id", ""),),
        )
        assert rows[0][0] == 1, f"fill {kw.get('execution_id')} booked before it was committed"
        self.seen.append(f"fill {kw.get('execution_id')}")
        return super().fill_from_book(
            client_order_id, signed_qty, price, timestamp, commission, **kw
        )


def test_orders_and_fills_are_in_the_ledger_file_before_the_broker_acts_on_them(tmp_path):
    csv = tmp_path / "data.csv"
    synthetic(300, seed=5).to_csv(csv)
    config = RunConfig(
        strategies=[StrategySpec(FILES / "sma_cross.py", "sma", 1.0)],
        symbols=["X"],
        data_source="csv",
        granularity="1h",
        broker="paper",
        lookback=60,
        db=tmp_path / "l.sqlite",
        data_options={"path": str(csv)},
        replay=True,
    )
    app = App(config, None, show_events=False)
    app.build()
    assert isinstance(app.broker, PaperBroker)
    app.broker.__class__ = _Watched
    watched = app.broker
    assert isinstance(watched, _Watched)
    watched.ledger_path, watched.seen = config.db, []
    app.confirm()
    app.start()
    app.run()
    app.close("feed ended")
    assert sum(s.startswith("order") for s in watched.seen) > 5
    assert sum(s.startswith("fill") for s in watched.seen) > 5
