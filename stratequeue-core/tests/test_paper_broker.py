from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.brokers.base import BrokerConfig
from stratequeue.brokers.paper import PaperBroker
from stratequeue.models import Bar, BrokerOrder, OrderStatus, OrderType, Side

T0 = datetime(2024, 1, 2, tzinfo=UTC)


def bar(i, o, h, low, c, symbol="AAPL"):
    return Bar(symbol, T0 + timedelta(days=i), o, h, low, c, 1000)


def broker(**params):
    b = PaperBroker(BrokerConfig("paper", additional_params=params))
    b.connect()
    return b


def test_market_order_fills_at_the_next_bars_open():
    b = broker(cash=10_000)
    b.on_bar(bar(0, 100, 101, 99, 100))
    b.submit_order(BrokerOrder("c1", "AAPL", Side.BUY, 10.0))
    b.on_bar(bar(1, 102, 103, 101, 102))
    [fill] = b.poll_fills()
    assert (fill.qty, fill.price) == (10.0, 102)
    assert b.get_account_info().cash == pytest.approx(10_000 - 1020)
    assert b.get_positions()[0].qty == 10


def test_limit_and_stop_follow_backtestings_rules():
    b = broker()
    b.on_bar(bar(0, 100, 101, 99, 100))
    b.submit_order(BrokerOrder("lim", "AAPL", Side.BUY, 1.0, OrderType.LIMIT, limit_price=98))
    b.submit_order(BrokerOrder("stp", "AAPL", Side.BUY, 1.0, OrderType.STOP, stop_price=104))
    b.on_bar(bar(1, 100, 103, 99, 101))  # neither touched
    assert b.poll_fills() == []
    b.on_bar(bar(2, 97, 106, 96, 105))  # gap below the limit, through the stop
    prices = {f.client_order_id: f.price for f in b.poll_fills()}
    assert prices == {"lim": 97, "stp": 104}


def test_short_and_fractional_positions():
    b = broker()
    b.on_bar(bar(0, 100, 101, 99, 100, "BTC"))
    b.submit_order(BrokerOrder("s", "BTC", Side.SELL, 0.25))
    b.on_bar(bar(1, 200, 201, 199, 200, "BTC"))
    assert b.get_positions()[0].qty == -0.25
    assert b.get_account_info().equity == pytest.approx(100_000)


def test_submit_is_idempotent_on_client_order_id():
    b = broker()
    first = b.submit_order(BrokerOrder("same", "AAPL", Side.BUY, 1.0))
    again = b.submit_order(BrokerOrder("same", "AAPL", Side.BUY, 1.0))
    assert first.broker_order_id == again.broker_order_id and len(b.orders) == 1


def test_book_priced_orders_wait_for_the_book():
    b = broker()
    b.submit_order(BrokerOrder("book", "AAPL", Side.BUY, None))
    b.on_bar(bar(0, 100, 101, 99, 100))
    b.on_bar(bar(1, 100, 101, 99, 100))
    assert b.poll_fills() == []
    fill = b.fill_from_book("book", 7, 100.5, T0, 1.0)
    assert fill.qty == 7 and b.get_order("book").status is OrderStatus.FILLED
    assert b.cash == pytest.approx(100_000 - 703.5 - 1.0)


def test_account_survives_a_restart(tmp_path):
    path = tmp_path / "paper.sqlite"
    b = broker(path=path)
    b.on_bar(bar(0, 100, 101, 99, 100))
    b.submit_order(BrokerOrder("c1", "AAPL", Side.BUY, 3.0))
    b.on_bar(bar(1, 110, 111, 109, 110))
    b.disconnect()
    again = broker(path=path)
    assert again.get_positions()[0].qty == 3
    assert again.get_order("c1").status is OrderStatus.FILLED
    assert again.cash == pytest.approx(100_000 - 330)


def test_executions_are_listed_with_cumulative_quantities_and_survive_a_restart(tmp_path):
    path = tmp_path / "account.sqlite"
    b = broker(path=str(path))
    b.submit_order(BrokerOrder("part", "AAPL", Side.BUY, 5.0))
    b.fill_from_book("part", 2.0, 100.0, T0, final=False)
    b.fill_from_book("part", 3.0, 101.0, T0 + timedelta(minutes=1))
    listed = b.get_executions()
    assert [(f.qty, f.price, f.cum_qty) for f in listed] == [(2.0, 100.0, 2.0), (3.0, 101.0, 5.0)]
    assert [f.cum_qty for f in b.poll_fills()] == [2.0, 5.0]
    b.disconnect()
    restarted = broker(path=str(path))
    assert restarted.get_executions() == listed
    assert restarted.get_executions(T0 + timedelta(seconds=30)) == listed[1:]


def test_a_known_client_order_id_places_nothing():
    b = broker()
    first = b.submit_order(BrokerOrder("once", "AAPL", Side.BUY, 1.0))
    again = b.submit_order(BrokerOrder("once", "AAPL", Side.BUY, 1.0))
    assert again.broker_order_id == first.broker_order_id
    assert b.placed["once"] == 1


def test_submission_log_shows_an_order_sent_twice_that_the_account_holds_once(tmp_path):
    """The account keeps one order per client id; the log keeps every request, across a
    restart, so a test can see an order that was sent again."""
    path = tmp_path / "paper.sqlite"
    b = broker(path=path)
    b.submit_order(BrokerOrder("twice", "AAPL", Side.BUY, 1.0))
    b.submit_order(BrokerOrder("once", "AAPL", Side.SELL, 1.0))
    b.disconnect()
    again = broker(path=path)
    ack = again.submit_order(BrokerOrder("twice", "AAPL", Side.BUY, 1.0))
    assert ack.status is OrderStatus.ACCEPTED and len(again.orders) == 2
    assert [cid for cid, _ in again.submissions] == ["twice", "once", "twice"]
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM orders WHERE client_order_id='twice'").fetchone() == (
        1,
    )
    assert con.execute(
        "SELECT client_order_id, COUNT(*) FROM submissions GROUP BY 1 ORDER BY 1"
    ).fetchall() == [("once", 1), ("twice", 2)]


def test_a_working_order_restored_from_the_account_file_still_fills(tmp_path):
    """on_bar matches only the sized orders still open; one restored after a restart is one."""
    path = tmp_path / "paper.sqlite"
    first = broker(path=path)
    first.submit_order(BrokerOrder("lim", "AAPL", Side.BUY, 5, OrderType.LIMIT, limit_price=90))
    first.on_bar(bar(0, 100, 101, 95, 100))  # not reached
    first.disconnect()
    again = broker(path=path)
    again.on_bar(bar(1, 95, 96, 89, 92))
    assert again.get_order("lim").status is OrderStatus.FILLED
    assert [(f.qty, f.price) for f in again.poll_fills()] == [(5, 90)]
