"""Each fault the issue names, injected by the fake, through the real alpaca-py."""

from __future__ import annotations

import time

import pytest
import requests
from conftest import make_broker, wait_for
from stratequeue.models import BrokerOrder, OrderStatus, Side


def order(cid: str) -> BrokerOrder:
    return BrokerOrder(cid, "AAPL", Side.BUY, 1)


def test_429_once_places_exactly_one_order(broker, fake):
    fake.fail("POST", "/v2/orders", 429)
    ack = broker.submit_order(order("rl-1"))
    assert ack.status is OrderStatus.FILLED
    assert len(fake.exchange.orders) == 1
    assert fake.count("GET", "/v2/orders:by_client_order_id") == 1  # looked up before resending


def test_500_is_retried_after_checking_the_order_was_not_placed(broker, fake):
    fake.fail("POST", "/v2/orders", 500)
    assert broker.submit_order(order("srv-1")).status is OrderStatus.FILLED
    assert fake.count("POST", "/v2/orders", client_order_id="srv-1") == 2
    assert len(fake.exchange.orders) == 1


def test_500_after_the_order_was_placed_does_not_send_it_twice(broker, fake):
    fake.fail("POST", "/v2/orders", 500, after=True)
    assert broker.submit_order(order("srv-2")).status is OrderStatus.FILLED
    assert fake.count("POST", "/v2/orders", client_order_id="srv-2") == 1
    assert len(fake.exchange.orders) == 1


def test_timeout_looks_the_order_up_by_client_id_and_does_not_duplicate(fake):
    broker = make_broker(fake, timeout=0.3, stream=False)
    broker.connect()
    fake.slow("POST", "/v2/orders", 1.0)  # placed, but the answer comes too late
    started = time.monotonic()
    ack = broker.submit_order(order("slow-1"))
    assert ack.status is OrderStatus.FILLED
    assert time.monotonic() - started < 1.0
    assert fake.count("POST", "/v2/orders", client_order_id="slow-1") == 1
    assert len(fake.exchange.orders) == 1


def test_a_silent_server_never_hangs_a_read(fake):
    broker = make_broker(fake, timeout=0.3, stream=False, retry_attempts=2)
    broker.connect()
    fake.slow("GET", "/v2/positions", 1.0, times=2, after=False)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        broker.get_positions()
    assert time.monotonic() - started < 1.5


def test_alpaca_down_for_good_gives_an_unknown_ack_not_an_exception(broker, fake):
    fake.fail("POST", "/v2/orders", 503, times=10)
    ack = broker.submit_order(order("down-1"))
    assert ack.status is OrderStatus.UNKNOWN and "unconfirmed" in ack.message
    assert broker.get_order("down-1") is None  # the ledger can tell it was never received
    assert len(fake.exchange.orders) == 0


def test_the_sdk_does_not_replay_a_rate_limited_post_by_itself(broker, fake):
    fake.fail("POST", "/v2/orders", 429, times=10)
    broker.submit_order(order("rl-2"))
    # each POST is followed by our lookup: the SDK never sent two POSTs in a row
    kinds = [r.path for r in fake.requests if r.path.startswith("/v2/orders")]
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False))


def test_fills_missed_while_the_stream_is_down_come_from_polling(fake):
    fake.exchange.fill_mode = "manual"
    broker = make_broker(fake)
    broker.connect()
    wait_for(lambda: fake.trade_listeners == 1)
    broker.submit_order(order("gap-1"))
    fake.streams_blocked = True
    fake.drop_streams()
    wait_for(lambda: fake.trade_listeners == 0)
    fake.fill("gap-1", price=191.0)  # nobody hears this on the stream
    fills = []
    wait_for(lambda: fills.extend(broker.poll_fills()) or fills)  # once the client sees the drop
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("gap-1", 1.0, 191.0)]
    fake.streams_blocked = False
    wait_for(lambda: fake.trade_listeners == 1, timeout=8)
    assert broker.poll_fills() == []  # reconciling after the reconnect finds nothing new
    broker.disconnect()


def test_fills_missed_during_a_reconnect_are_found_after_it(fake):
    fake.exchange.fill_mode = "manual"
    broker = make_broker(fake)
    broker.connect()
    wait_for(lambda: fake.trade_listeners == 1)
    broker.submit_order(order("gap-2"))
    fake.drop_streams()
    wait_for(lambda: fake.trade_listeners == 0)
    fake.fill("gap-2", price=192.0)
    wait_for(lambda: fake.trade_listeners == 1, timeout=8)
    assert [f.client_order_id for f in broker.poll_fills()] == ["gap-2"]
    broker.disconnect()


def test_a_duplicate_id_whose_lookup_fails_is_unknown_never_rejected(broker, fake):
    """Alpaca holds the order (placed, but the answer was lost and the retry met the duplicate
    check) and cannot show it right now: the order is kept as sent, state unknown."""
    fake.fail("POST", "/v2/orders", 504, after=True)  # placed, answer lost
    fake.fail("GET", "/v2/orders:by_client_order_id", 503, times=50)
    ack = broker.submit_order(order("dup-1"))
    assert ack.status is OrderStatus.UNKNOWN, ack
    assert len(fake.exchange.orders) == 1  # it is at the broker
    with fake._lock:
        fake._faults.clear()
    found = broker.get_order("dup-1")  # the next look finds it
    assert found is not None and found.status is OrderStatus.FILLED


def test_a_duplicate_id_answer_is_looked_up_with_retries_and_tracked(fake):
    """A fresh connection (a restart) sends an order Alpaca already holds: the 422 duplicate
    answer is followed by a lookup that survives a transient failure, and the order is tracked,
    never booked as rejected."""
    first = make_broker(fake, stream=False)
    first.connect()
    first.submit_order(order("dup-2"))
    fresh = make_broker(fake, stream=False)
    fresh.connect()
    fake.fail("GET", "/v2/orders:by_client_order_id", 503, times=1)
    ack = fresh.submit_order(order("dup-2"))
    assert ack.status is OrderStatus.FILLED, ack
    assert fake.count("POST", "/v2/orders", client_order_id="dup-2") == 2  # the second: 422
    assert len(fake.exchange.orders) == 1
