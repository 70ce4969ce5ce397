"""Conformance cases: executions, the account, faults and restarts."""

from __future__ import annotations

import time

import pytest

from ..brokers.base import Capability
from ..models import BrokerOrder, OrderStatus, Side
from ._kit import (
    SETTLE,
    _assert_once,
    _cents,
    _fills,
    _held,
    _limit,
    _placed,
    _status,
    require,
)
from .harness import BrokerHarness


# -- executions -----------------------------------------------------------------------------
def test_partial_fills_are_reported_once_each_with_cumulative_quantities(
    broker_harness: BrokerHarness,
) -> None:
    h = broker_harness
    require(h, Capability.PARTIAL_FILLS)
    limit = _cents(h.price * 0.9)
    _placed(h.broker.submit_order(_limit(h, "kit-part", Side.BUY, 5, limit)), "kit-part")
    first_price, rest_price = _cents(h.price * 0.89), _cents(h.price * 0.88)
    h.fill("kit-part", qty=2, price=first_price)
    first = _fills(h.broker, "kit-part", 2)
    assert [(f.qty, f.price, f.cum_qty) for f in first] == [(2, first_price, 2)]
    ack = h.broker.get_order("kit-part")
    assert ack is not None and (ack.status, ack.filled_qty) == (OrderStatus.PARTIALLY_FILLED, 2)
    assert "kit-part" in {o.client_order_id for o in h.broker.get_open_orders()}
    h.fill("kit-part", price=rest_price)
    rest = _fills(h.broker, "kit-part", 3)
    assert [(f.qty, f.price, f.cum_qty) for f in rest] == [(3, rest_price, 5)]
    _assert_once(first + rest, "kit-part", 5)
    assert _status(h.broker, "kit-part") is OrderStatus.FILLED
    assert _held(h.broker, h.symbol) == 5


def test_each_execution_is_delivered_once(broker_harness: BrokerHarness) -> None:
    """Every source the broker has (a stream, a poll) reports these executions; each is
    delivered once, and names what ``get_executions`` names (order and cumulative quantity)."""
    h = broker_harness
    for n in range(3):
        cid = f"kit-once-{n}"
        _placed(h.broker.submit_order(_limit(h, cid, Side.BUY, 2, h.price * 0.9)), cid)
        if Capability.PARTIAL_FILLS in h.broker.capabilities:
            h.fill(cid, qty=1)
        h.fill(cid)
        _assert_once(_fills(h.broker, cid, 2), cid, 2)
    time.sleep(SETTLE)
    assert h.broker.poll_fills() == []
    assert _held(h.broker, h.symbol) == 6
    if Capability.EXECUTIONS in h.broker.capabilities:
        listed = [f for f in h.broker.get_executions() if f.client_order_id.startswith("kit-once")]
        _assert_once(listed, "kit-once", 6)


def test_executions_keep_their_ids_across_a_restart(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.EXECUTIONS)
    _placed(h.broker.submit_order(_limit(h, "kit-exe", Side.BUY, 3, h.price * 0.9)), "kit-exe")
    if Capability.PARTIAL_FILLS in h.broker.capabilities:
        h.fill("kit-exe", qty=1)
    h.fill("kit-exe")
    delivered = _fills(h.broker, "kit-exe", 3)
    before = [f for f in h.broker.get_executions() if f.client_order_id == "kit-exe"]
    _assert_once(before, "kit-exe", 3)
    # the names two sources share for one execution: its order and cumulative quantity
    assert {(f.client_order_id, f.cum_qty) for f in delivered} == {
        (f.client_order_id, f.cum_qty) for f in before
    }
    after = [f for f in h.connect_new().get_executions() if f.client_order_id == "kit-exe"]
    assert [(f.execution_id, f.qty, f.price, f.cum_qty) for f in after] == [
        (f.execution_id, f.qty, f.price, f.cum_qty) for f in before
    ]
    since = min(f.timestamp for f in before)
    assert {f.execution_id for f in before} <= {
        f.execution_id for f in h.broker.get_executions(since)
    }


# -- the account ----------------------------------------------------------------------------
def test_positions_and_equity_follow_the_fills(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    start = h.broker.get_account_info()
    held = _held(h.broker, h.symbol)
    h.broker.submit_order(BrokerOrder("kit-buy", h.symbol, Side.BUY, 4))
    h.set_price(h.symbol, h.price)
    fills = _fills(h.broker, "kit-buy", 4)
    h.broker.submit_order(_limit(h, "kit-sell", Side.SELL, 1, h.price * 1.1))
    h.fill("kit-sell", price=_cents(h.price * 1.1))
    fills += _fills(h.broker, "kit-sell", 1)
    assert _held(h.broker, h.symbol) == held + 3
    account = h.broker.get_account_info()
    spent = sum(f.signed_qty * f.price + f.commission for f in fills)
    assert _cents(account.cash) == _cents(start.cash - spent)
    value = sum(p.qty * (p.market_price or p.avg_price) for p in account.positions)
    assert _cents(account.equity) == _cents(account.cash + value)
    assert {(p.symbol, p.qty) for p in account.positions} == {
        (p.symbol, p.qty) for p in h.broker.get_positions()
    }


def test_fractional_quantities_fill_exactly(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.FRACTIONAL)
    h.broker.submit_order(BrokerOrder("kit-frac", h.symbol, Side.BUY, 0.25))
    h.set_price(h.symbol, h.price)
    _assert_once(_fills(h.broker, "kit-frac", 0.25), "kit-frac", 0.25)
    assert _held(h.broker, h.symbol) == 0.25


def test_a_short_sale_opens_a_negative_position(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.SHORT)
    _placed(h.broker.submit_order(BrokerOrder("kit-short", h.symbol, Side.SELL, 2)), "kit-short")
    h.set_price(h.symbol, h.price)
    _assert_once(_fills(h.broker, "kit-short", 2), "kit-short", 2)
    assert _held(h.broker, h.symbol) == -2


def test_a_refused_order_is_rejected_with_the_brokers_message(
    broker_harness: BrokerHarness,
) -> None:
    h = broker_harness
    order, words = h.refused_order("kit-refused")
    ack = h.broker.submit_order(order)  # never an exception: the run goes on
    assert ack.status is OrderStatus.REJECTED, ack
    assert words in ack.message, f"{words!r} not in the broker's message {ack.message!r}"
    later = h.broker.get_order("kit-refused")
    assert later is None or later.status is OrderStatus.REJECTED
    assert "kit-refused" not in {o.client_order_id for o in h.broker.get_open_orders()}
    assert _held(h.broker, h.symbol) == 0


# -- faults ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "after", "posts"),
    [(429, False, 2), (500, False, 2), (503, True, 1)],
    ids=["429-refused", "500-refused", "503-after-placing"],
)
def test_rate_limits_and_server_errors_are_retried_without_a_duplicate_order(
    broker_harness: BrokerHarness, status: int, after: bool, posts: int
) -> None:
    """Refused (429, 500): sent again once, one order. Placed but answered 503: found by its
    client order id, never sent again (``posts`` counts submissions at the wire)."""
    h = broker_harness
    require(h, Capability.NETWORK)
    cid = f"kit-retry-{status}"
    h.fail_next("submit", status, after=after)
    ack = h.broker.submit_order(BrokerOrder(cid, h.symbol, Side.BUY, 2))
    _placed(ack, cid)
    assert h.posts(cid) == posts, f"{h.posts(cid)} submissions of {cid} at the wire"
    h.set_price(h.symbol, h.price)
    _assert_once(_fills(h.broker, cid, 2), cid, 2)
    assert _held(h.broker, h.symbol) == 2
    h.fail_next("positions", status)
    assert _held(h.broker, h.symbol) == 2  # a read is retried too


def test_a_dropped_connection_still_delivers_each_fill_once(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.NETWORK)
    _placed(h.broker.submit_order(_limit(h, "kit-drop", Side.BUY, 2, h.price * 0.9)), "kit-drop")
    h.drop_connection()
    h.fill("kit-drop")  # while the broker reconnects
    _assert_once(_fills(h.broker, "kit-drop", 2), "kit-drop", 2)
    cid = "kit-drop-after"
    _placed(h.broker.submit_order(_limit(h, cid, Side.BUY, 1, h.price * 0.9)), cid)
    h.fill(cid)
    _assert_once(_fills(h.broker, cid, 1), cid, 1)
    assert _held(h.broker, h.symbol) == 3


def test_restart_sees_open_orders_positions_and_executions(
    broker_harness: BrokerHarness,
) -> None:
    h = broker_harness
    h.broker.submit_order(BrokerOrder("kit-rs-done", h.symbol, Side.BUY, 2))
    h.set_price(h.symbol, h.price)
    _fills(h.broker, "kit-rs-done", 2)
    working = h.broker.submit_order(_limit(h, "kit-rs-open", Side.BUY, 1, h.price * 0.9))
    positions = {(p.symbol, p.qty) for p in h.broker.get_positions()}
    fresh = h.connect_new()
    open_orders = {o.client_order_id: o for o in fresh.get_open_orders()}
    assert set(open_orders) == {"kit-rs-open"}
    assert open_orders["kit-rs-open"].broker_order_id == working.broker_order_id
    done = fresh.get_order("kit-rs-done")
    assert done is not None and (done.status, done.filled_qty) == (OrderStatus.FILLED, 2)
    assert {(p.symbol, p.qty) for p in fresh.get_positions()} == positions
    if Capability.EXECUTIONS in fresh.capabilities:
        names = {(f.client_order_id, f.cum_qty) for f in fresh.get_executions()}
        assert ("kit-rs-done", 2) in names
    assert fresh.cancel_order("kit-rs-open").status is OrderStatus.CANCELED
    assert fresh.get_open_orders() == []
