"""Connections drop (the nightly reset, a network blip); no fill is lost and none doubled."""

from __future__ import annotations

import time

from conftest import make_broker, wait_for
from stratequeue.models import BrokerOrder, Fill, OrderType, Side
from stratequeue_ib import IBBroker
from stratequeue_ib.testing import FakeTWS


def _limit(cid: str, qty: float, side: Side = Side.BUY) -> BrokerOrder:
    return BrokerOrder(
        cid, "AAPL", side, qty, OrderType.LIMIT, limit_price=150.0, time_in_force="gtc"
    )


def _collect(broker: IBBroker, want: float, settle: float = 0.5) -> list[Fill]:
    got: list[Fill] = []
    wait_for(lambda: got.extend(broker.poll_fills()) or sum(f.qty for f in got) >= want)
    end = time.monotonic() + settle
    while time.monotonic() < end:
        got.extend(broker.poll_fills())
        time.sleep(0.02)
    return got


def _fake_executions(tws: FakeTWS, *refs: str) -> list[tuple[str, str, float]]:
    return [
        (e.exec_id, e.order.order_ref, e.cum_qty)
        for e in tws.exchange.executions
        if e.order.order_ref in refs
    ]


def test_fills_made_while_the_connection_is_down_arrive_once_after_the_reconnect(
    tws: FakeTWS, broker: IBBroker
) -> None:
    broker.submit_order(_limit("gap-a", 3))
    broker.submit_order(_limit("gap-b", 2))
    tws.fill("gap-a", qty=1)
    before = _collect(broker, 1)
    tws.drop_connections(refuse=True)  # TWS restarting: reconnects are refused for a while
    wait_for(lambda: tws.sessions() == 0)
    tws.fill("gap-a")  # the rest of gap-a and all of gap-b execute during the gap
    tws.fill("gap-b", qty=1)
    tws.fill("gap-b")
    time.sleep(0.3)  # the broker is retrying meanwhile
    assert broker.poll_fills() == []
    tws.accept()
    after = _collect(broker, 4)
    fills = before + after
    reported = sorted((f.execution_id, f.client_order_id, f.cum_qty) for f in fills)
    assert reported == sorted(_fake_executions(tws, "gap-a", "gap-b"))
    assert all(f.commission == 1.0 for f in fills)
    assert broker.reconnects == 1
    # the catch-up asked for executions since the last one seen, not the whole day
    catch_up = [r.fields for r in tws.log if r.fields[0] == "7"][-1]
    assert catch_up[5] != "", catch_up
    # and the orders are still known after the reconnect
    ack = broker.get_order("gap-b")
    assert ack is not None and ack.filled_qty == 2


def test_fills_pushed_nowhere_during_an_1100_arrive_after_1102(
    tws: FakeTWS, broker: IBBroker
) -> None:
    broker.submit_order(_limit("link-a", 2))
    tws.lose_link()
    tws.fill("link-a")
    time.sleep(0.3)
    assert broker.poll_fills() == []
    tws.restore_link()
    fills = _collect(broker, 2)
    assert [(f.client_order_id, f.qty, f.cum_qty) for f in fills] == [("link-a", 2, 2)]
    assert [f.execution_id for f in fills] == [e for e, _, _ in _fake_executions(tws, "link-a")]


def test_an_order_sent_as_the_connection_drops_is_placed_once(
    tws: FakeTWS, broker: IBBroker
) -> None:
    tws.fault("submit", "drop-after")  # TWS takes it, then the connection goes
    ack = broker.submit_order(_limit("drop-1", 1))
    assert ack.broker_order_id and ack.status.is_open, ack
    assert tws.places("drop-1") == 1
    tws.fault("submit", "drop")  # the connection goes before TWS takes it
    ack = broker.submit_order(_limit("drop-2", 1))
    assert ack.broker_order_id and ack.status.is_open, ack
    assert tws.places("drop-2") == 2
    assert [o.order_ref for o in tws.exchange.open_orders(1)] == ["drop-1", "drop-2"]
    # order ids are never reused: the second send of drop-2 took a new one
    ids = [int(r.fields[1]) for r in tws.log if r.fields[0] == "3"]
    assert len(ids) == len(set(ids))


def test_a_fill_whose_commission_report_never_comes_is_reported_once_after_the_wait(
    tws: FakeTWS,
) -> None:
    tws.configure(commissions=False)
    broker = make_broker(tws, commission_wait=0.5)
    assert broker.connect()
    try:
        broker.submit_order(BrokerOrder("nocomm", "AAPL", Side.BUY, 2))
        time.sleep(0.2)
        assert broker.poll_fills() == []  # waiting for its commission
        fills = _collect(broker, 2)
    finally:
        broker.disconnect()
    assert [(f.client_order_id, f.qty, f.commission) for f in fills] == [("nocomm", 2, 0.0)]
