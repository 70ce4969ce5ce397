"""Fills: the user channel triggers, the fills endpoint is the truth, each trade id once."""

from __future__ import annotations

import time

from conftest import make_broker, wait_for
from stratequeue.models import BrokerOrder, OrderType, Side
from stratequeue_coinbase.testing import FakeCoinbase


def test_the_user_channel_triggers_a_fills_read_without_polling(fake: FakeCoinbase) -> None:
    broker = make_broker(fake, reconcile_interval=3600.0)  # no timed polls: only the channel
    broker.connect()
    try:
        wait_for(lambda: fake.user_sockets)
        broker.poll_fills()  # the first timed poll
        order = BrokerOrder(
            "ch-1", "BTC-USD", Side.BUY, 0.5, OrderType.LIMIT, 50_000.0, time_in_force="gtc"
        )
        broker.submit_order(order)
        broker.poll_fills()
        fake.exchange.fill("ch-1", 0.2, 49_000.0)
        first = wait_for(broker.poll_fills)
        assert [(f.qty, f.price, f.cum_qty) for f in first] == [(0.2, 49_000.0, 0.2)]
        fake.exchange.fill("ch-1", price=48_000.0)
        rest = wait_for(broker.poll_fills)
        assert [(f.qty, f.price, f.cum_qty) for f in rest] == [(0.3, 48_000.0, 0.5)]
        time.sleep(0.3)
        assert broker.poll_fills() == []
    finally:
        broker.disconnect()


def test_heartbeats_keep_coming_and_a_dropped_channel_comes_back(fake: FakeCoinbase) -> None:
    fake.heartbeat_interval = 0.05
    beats: list[dict] = []
    broker = make_broker(fake)
    broker.connect()
    try:
        assert broker.feed is not None
        original = broker.feed.on_message
        broker.feed.on_message = lambda m: (beats.append(m), original(m))  # type: ignore[assignment]
        wait_for(lambda: len([b for b in beats if b["channel"] == "heartbeats"]) >= 3)
        fake.drop_streams()
        wait_for(lambda: broker.feed.connections == 2)
        counters = [
            b["events"][0]["heartbeat_counter"] for b in beats if b["channel"] == "heartbeats"
        ]
        assert counters[:3] == list(range(counters[0], counters[0] + 3))  # one by one
    finally:
        broker.disconnect()


def test_partial_market_fills_and_fees_come_from_the_fills_endpoint(fake: FakeCoinbase) -> None:
    fake.exchange.partial = True
    fake.exchange.fee_rate = 0.006
    broker = make_broker(fake)
    broker.connect()
    try:
        broker.submit_order(BrokerOrder("pm", "BTC-USD", Side.BUY, 0.1))
        fills = wait_for(lambda: broker.poll_fills())
        assert [(f.qty, f.cum_qty) for f in fills] == [(0.05, 0.05), (0.05, 0.1)]
        assert [f.commission for f in fills] == [18.0, 18.0]
        assert len({f.execution_id for f in fills}) == 2
        account = broker.get_account_info()
        assert round(account.cash, 2) == round(100_000 - 6_000 - 36, 2)
        assert [(p.symbol, p.qty) for p in account.positions] == [("BTC-USD", 0.1)]
    finally:
        broker.disconnect()


def test_a_restart_finds_its_order_by_client_id_and_sends_nothing(fake: FakeCoinbase) -> None:
    first = make_broker(fake)
    first.connect()
    order = BrokerOrder(
        "rs", "BTC-USD", Side.BUY, 0.01, OrderType.LIMIT, 50_000.0, time_in_force="gtc"
    )
    placed = first.submit_order(order)
    first.disconnect()
    second = make_broker(fake)
    second.connect()
    try:
        again = second.submit_order(order)
        assert again.broker_order_id == placed.broker_order_id
        assert fake.exchange.posts["rs"] == 1
    finally:
        second.disconnect()
