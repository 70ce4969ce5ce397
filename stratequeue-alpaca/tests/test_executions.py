"""Executions with Alpaca's own ids: the FILL account activities, through the real alpaca-py
against the fake (which serves them as Alpaca does, with ids unrelated to the stream's)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import requests
from conftest import make_broker, wait_for
from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side
from stratequeue_alpaca.testing import FakeAlpaca

ACTIVITY_ID = re.compile(r"^\d{17}::[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def collect(broker, n: int, timeout: float = 5.0):
    fills = []
    wait_for(lambda: fills.extend(broker.poll_fills()) or len(fills) >= n, timeout)
    return fills


def connected(fake: FakeAlpaca, **params: object):
    broker = make_broker(fake, **params)
    assert broker.connect()
    if params.get("stream", True):
        wait_for(lambda: fake.trade_listeners >= 1)
    return broker


def test_the_fake_names_each_execution_as_alpaca_does_and_unlike_the_stream(fake):
    fake.exchange.partial_fills = 2
    _, events = fake.exchange.submit(
        {"symbol": "AAPL", "qty": "4", "side": "buy", "type": "market", "time_in_force": "day"}
    )
    rows = fake.exchange.activities.query("FILL", {"direction": "asc"})
    assert [(r["type"], r["qty"], r["cum_qty"], r["leaves_qty"]) for r in rows] == [
        ("partial_fill", "2.0", "2.0", "2.0"),
        ("fill", "2.0", "4.0", "0.0"),
    ]
    assert all(ACTIVITY_ID.match(r["id"]) for r in rows)
    stream_ids = {e["execution_id"] for e in events if "execution_id" in e}
    assert len(stream_ids) == 2
    assert not any(s in r["id"] for r in rows for s in stream_ids)


def test_get_executions_gives_activity_ids_and_cumulative_quantities(fake):
    fake.exchange.partial_fills = 2
    broker = connected(fake)
    try:
        broker.submit_order(BrokerOrder("e-1", "AAPL", Side.BUY, 4))
        collect(broker, 2)
        executions = broker.get_executions()
    finally:
        broker.disconnect()
    assert [(f.client_order_id, f.qty, f.cum_qty, f.price) for f in executions] == [
        ("e-1", 2.0, 2.0, 190.0),
        ("e-1", 2.0, 4.0, 190.0),
    ]
    assert all(ACTIVITY_ID.match(f.execution_id) for f in executions)
    assert fake.count("GET", "/v2/account/activities/FILL") == 1


def test_a_fresh_connection_lists_the_same_executions_under_the_same_names(fake):
    first = connected(fake)
    first.submit_order(BrokerOrder("entry", "AAPL", Side.BUY, 3))
    first.submit_order(
        BrokerOrder(
            "exit",
            "AAPL",
            Side.SELL,
            3,
            OrderType.LIMIT,
            limit_price=200.0,
            take_profit=200.0,
            stop_loss=180.0,
            order_class="oco",
            time_in_force="gtc",
        )
    )
    fake.exchange.set_price("AAPL", 179.0)
    collect(first, 2)
    before = first.get_executions()
    first.disconnect()
    second = connected(fake, stream=False)  # knows nothing of these orders: it asks Alpaca
    after = second.get_executions()
    assert after == before
    assert [(f.client_order_id, f.side, f.cum_qty) for f in after] == [
        ("entry", Side.BUY, 3.0),
        ("exit/sl", Side.SELL, 3.0),
    ]


def test_polled_fills_carry_the_activity_ids_never_made_up_ones(fake):
    fake.exchange.partial_fills = 2
    broker = connected(fake, stream=False)
    broker.submit_order(BrokerOrder("poll-1", "AAPL", Side.BUY, 4))
    polled = broker.poll_fills()
    assert [(f.qty, f.cum_qty) for f in polled] == [(2.0, 2.0), (2.0, 4.0)]
    assert [f.execution_id for f in polled] == [f.execution_id for f in broker.get_executions()]
    assert broker.poll_fills() == []


def test_stream_fills_carry_the_orders_cumulative_quantity(fake):
    fake.exchange.partial_fills = 3
    broker = connected(fake)
    try:
        broker.submit_order(BrokerOrder("cum-1", "AAPL", Side.BUY, 9))
        fills = collect(broker, 3)
    finally:
        broker.disconnect()
    assert [(f.qty, f.cum_qty) for f in fills] == [(3.0, 3.0), (3.0, 6.0), (3.0, 9.0)]
    assert not any(ACTIVITY_ID.match(f.execution_id) for f in fills)  # the stream's own ids


def test_get_executions_reads_every_page(fake):
    fake.exchange.partial_fills = 101  # one more execution than Alpaca's largest page
    broker = connected(fake, stream=False)
    broker.submit_order(BrokerOrder("many", "AAPL", Side.BUY, 101))
    pages_before = fake.count("GET", "/v2/account/activities/FILL")
    executions = broker.get_executions()
    assert [f.cum_qty for f in executions] == [float(n) for n in range(1, 102)]
    assert len({f.execution_id for f in executions}) == 101
    assert fake.count("GET", "/v2/account/activities/FILL") - pages_before == 2


def test_fill_delay_keeps_an_order_accepted_then_fills_it():
    with FakeAlpaca(fill_delay=0.4) as fake:
        fake.exchange.set_price("AAPL", 190.0)
        broker = connected(fake)
        try:
            started = time.monotonic()
            ack = broker.submit_order(BrokerOrder("late", "AAPL", Side.BUY, 1))
            assert ack.status is OrderStatus.ACCEPTED
            (fill,) = collect(broker, 1)
            assert time.monotonic() - started >= 0.4
            assert (fill.client_order_id, fill.cum_qty) == ("late", 1.0)
        finally:
            broker.disconnect()


def test_posts_counts_every_submission_at_the_wire_refused_ones_too(fake):
    body = {
        "symbol": "AAPL",
        "qty": "1",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": "twice",
    }
    headers = {"APCA-API-KEY-ID": fake.key, "APCA-API-SECRET-KEY": fake.secret}
    first = requests.post(f"{fake.url}/v2/orders", json=body, headers=headers, timeout=5)
    second = requests.post(f"{fake.url}/v2/orders", json=body, headers=headers, timeout=5)
    assert (first.status_code, second.status_code) == (200, 422)
    assert fake.posts("twice") == 2
    assert fake.posts("never") == 0


def test_polled_fills_of_several_orders_come_in_the_order_they_executed(fake):
    """In one bar an older order for 4 executes before a newer one for 2: polling reports
    them in that order (the books' FIFO depends on it), not by quantity across orders."""
    fake.exchange.fill_mode = "on_bar"
    fake.exchange.bar_time = True  # orders and fills stamped with the bars' time, as a replay
    fake.push_bar("AAPL", datetime(2024, 6, 3, 13, 29, tzinfo=UTC), 186.0, 186.0, 186.0, 186.0)
    broker = connected(fake, stream=False)
    limit = BrokerOrder("older", "AAPL", Side.BUY, 4, OrderType.LIMIT, limit_price=185.0)
    broker.submit_order(limit)
    broker.submit_order(BrokerOrder("newer", "AAPL", Side.BUY, 2))
    fake.push_bar("AAPL", datetime(2024, 6, 3, 13, 30, tzinfo=UTC), 186.0, 187.0, 184.0, 185.5)
    polled = broker.poll_fills()
    assert [(f.client_order_id, f.cum_qty) for f in polled] == [("older", 4.0), ("newer", 2.0)]
