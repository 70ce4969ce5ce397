"""Conformance cases: idempotence, lookup, order types, cancel and replace."""

from __future__ import annotations

from ..brokers.base import Capability
from ..models import BrokerOrder, OrderStatus, OrderType, Side
from ._kit import (
    _assert_once,
    _cents,
    _fills,
    _held,
    _limit,
    _no_fills,
    _placed,
    _status,
    require,
)
from .harness import BrokerHarness


# -- idempotence and lookup -----------------------------------------------------------------
def test_submit_is_idempotent_on_the_client_order_id(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    order = _limit(h, "kit-idem", Side.BUY, 2, h.price * 0.9)
    first = h.broker.submit_order(order)
    second = h.broker.submit_order(order)
    _placed(first, "kit-idem")
    assert second.broker_order_id == first.broker_order_id
    assert second.status is first.status
    assert h.posts("kit-idem") == 1, "the same client order id reached the venue twice"
    assert [o.client_order_id for o in h.broker.get_open_orders()].count("kit-idem") == 1


def test_an_order_is_found_by_client_id_from_a_fresh_connection(
    broker_harness: BrokerHarness,
) -> None:
    h = broker_harness
    order = _limit(h, "kit-find", Side.BUY, 1, h.price * 0.9)
    placed = h.broker.submit_order(order)
    fresh = h.connect_new()
    found = fresh.get_order("kit-find")
    assert found is not None
    assert (found.broker_order_id, found.status) == (placed.broker_order_id, OrderStatus.ACCEPTED)
    assert fresh.get_order("kit-never-sent") is None
    again = fresh.submit_order(order)  # a restart resending it: the broker's order, no other
    assert again.broker_order_id == placed.broker_order_id and again.status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in fresh.get_open_orders()].count("kit-find") == 1


# -- order types ----------------------------------------------------------------------------
def test_market_order_fills_at_the_market(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.MARKET)
    _placed(h.broker.submit_order(BrokerOrder("kit-mkt", h.symbol, Side.BUY, 2)), "kit-mkt")
    h.set_price(h.symbol, h.price)
    fills = _fills(h.broker, "kit-mkt", 2)
    assert [(f.client_order_id, f.side, f.price) for f in fills] == [
        ("kit-mkt", Side.BUY, h.price)
    ] * len(fills)
    _assert_once(fills, "kit-mkt", 2)
    assert _status(h.broker, "kit-mkt") is OrderStatus.FILLED


def test_limit_order_waits_for_its_price(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.LIMIT)
    limit = _cents(h.price * 0.95)
    ack = h.broker.submit_order(_limit(h, "kit-lmt", Side.BUY, 3, limit))
    _placed(ack, "kit-lmt")
    assert ack.status is OrderStatus.ACCEPTED
    h.set_price(h.symbol, _cents(h.price * 0.97))  # above the limit: a buy limit waits
    _no_fills(h.broker, "kit-lmt")
    assert _status(h.broker, "kit-lmt") is OrderStatus.ACCEPTED
    h.set_price(h.symbol, limit)
    fills = _fills(h.broker, "kit-lmt", 3)
    assert {f.price for f in fills} == {limit}
    _assert_once(fills, "kit-lmt", 3)
    assert _status(h.broker, "kit-lmt") is OrderStatus.FILLED


def test_stop_order_triggers_at_its_stop(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.STOP)
    stop = _cents(h.price * 1.05)
    order = BrokerOrder(
        "kit-stp", h.symbol, Side.BUY, 2, OrderType.STOP, stop_price=stop, time_in_force="gtc"
    )
    _placed(h.broker.submit_order(order), "kit-stp")
    h.set_price(h.symbol, _cents(h.price * 1.02))  # below a buy stop: not triggered
    _no_fills(h.broker, "kit-stp")
    h.set_price(h.symbol, stop)
    fills = _fills(h.broker, "kit-stp", 2)
    assert {f.price for f in fills} == {stop}
    _assert_once(fills, "kit-stp", 2)


def test_stop_limit_order_triggers_then_fills_at_its_limit_or_better(
    broker_harness: BrokerHarness,
) -> None:
    h = broker_harness
    require(h, Capability.STOP_LIMIT)
    _placed(h.broker.submit_order(BrokerOrder("kit-hold", h.symbol, Side.BUY, 2)), "kit-hold")
    h.set_price(h.symbol, h.price)
    _fills(h.broker, "kit-hold", 2)
    stop, limit = _cents(h.price * 0.95), _cents(h.price * 0.94)
    order = BrokerOrder(
        "kit-stl",
        h.symbol,
        Side.SELL,
        2,
        OrderType.STOP_LIMIT,
        limit_price=limit,
        stop_price=stop,
        time_in_force="gtc",
    )
    _placed(h.broker.submit_order(order), "kit-stl")
    h.set_price(h.symbol, _cents(h.price * 0.97))  # above a sell stop: not triggered
    _no_fills(h.broker, "kit-stl")
    h.set_price(h.symbol, stop)
    fills = _fills(h.broker, "kit-stl", 2)
    assert all(limit <= f.price <= stop for f in fills), fills
    _assert_once(fills, "kit-stl", 2)


def test_bracket_legs_are_reported_and_one_fill_cancels_the_other(
    broker_harness: BrokerHarness,
) -> None:
    h = broker_harness
    require(h, Capability.BRACKET)
    tp, sl = _cents(h.price * 1.05), _cents(h.price * 0.95)
    order = BrokerOrder(
        "kit-brk",
        h.symbol,
        Side.BUY,
        2,
        take_profit=tp,
        stop_loss=sl,
        order_class="bracket",
        time_in_force="gtc",
    )
    _placed(h.broker.submit_order(order), "kit-brk")
    h.set_price(h.symbol, h.price)
    entry = _fills(h.broker, "kit-brk", 2)
    assert [f.client_order_id for f in entry] == ["kit-brk"] * len(entry)
    h.set_price(h.symbol, tp)
    exit_ = _fills(h.broker, "kit-brk", 2)
    assert {(f.client_order_id, f.side, f.price) for f in exit_} == {("kit-brk/tp", Side.SELL, tp)}
    _assert_once(exit_, "kit-brk", 2)
    h.set_price(h.symbol, sl)  # the stop loss was canceled with the take-profit's fill
    _no_fills(h.broker, "kit-brk")
    assert _held(h.broker, h.symbol) == 0
    assert "kit-brk" not in {o.client_order_id for o in h.broker.get_open_orders()}


def test_oco_one_leg_fills_and_cancels_the_other(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.OCO)
    _placed(h.broker.submit_order(BrokerOrder("kit-own", h.symbol, Side.BUY, 2)), "kit-own")
    h.set_price(h.symbol, h.price)
    _fills(h.broker, "kit-own", 2)
    tp, sl = _cents(h.price * 1.05), _cents(h.price * 0.95)
    order = BrokerOrder(
        "kit-oco",
        h.symbol,
        Side.SELL,
        2,
        OrderType.LIMIT,
        limit_price=tp,
        take_profit=tp,
        stop_loss=sl,
        order_class="oco",
        time_in_force="gtc",
    )
    ack = h.broker.submit_order(order)
    _placed(ack, "kit-oco")
    assert ack.status is OrderStatus.ACCEPTED
    h.set_price(h.symbol, sl)
    fills = _fills(h.broker, "kit-oco", 2)
    assert {(f.client_order_id, f.side, f.price) for f in fills} == {("kit-oco/sl", Side.SELL, sl)}
    _assert_once(fills, "kit-oco", 2)
    h.set_price(h.symbol, tp)  # the take-profit was canceled by the stop's fill
    _no_fills(h.broker, "kit-oco")
    assert _status(h.broker, "kit-oco") is OrderStatus.FILLED
    assert _held(h.broker, h.symbol) == 0


# -- cancel and replace ---------------------------------------------------------------------
def test_cancel_stops_a_working_order(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    limit = _cents(h.price * 0.9)
    _placed(h.broker.submit_order(_limit(h, "kit-cxl", Side.BUY, 1, limit)), "kit-cxl")
    ack = h.broker.cancel_order("kit-cxl")
    assert ack.status is OrderStatus.CANCELED, ack
    assert _status(h.broker, "kit-cxl") is OrderStatus.CANCELED
    assert "kit-cxl" not in {o.client_order_id for o in h.broker.get_open_orders()}
    h.set_price(h.symbol, limit)
    _no_fills(h.broker, "kit-cxl")
    assert _held(h.broker, h.symbol) == 0


def test_replace_changes_a_working_orders_price(broker_harness: BrokerHarness) -> None:
    h = broker_harness
    require(h, Capability.REPLACE)
    old_limit, new_limit = _cents(h.price * 0.9), _cents(h.price * 0.95)
    _placed(h.broker.submit_order(_limit(h, "kit-rpl", Side.BUY, 2, old_limit)), "kit-rpl")
    ack = h.broker.replace_order("kit-rpl", "kit-rpl-2", limit_price=new_limit)
    _placed(ack, "kit-rpl-2")
    assert ack.status is OrderStatus.ACCEPTED
    open_ids = {o.client_order_id for o in h.broker.get_open_orders()}
    assert "kit-rpl-2" in open_ids and "kit-rpl" not in open_ids
    h.set_price(h.symbol, new_limit)
    fills = _fills(h.broker, "kit-rpl-2", 2)
    assert {(f.client_order_id, f.price) for f in fills} == {("kit-rpl-2", new_limit)}
    _assert_once(fills, "kit-rpl-2", 2)
    h.set_price(h.symbol, old_limit)
    _no_fills(h.broker, "kit-rpl")
    assert _held(h.broker, h.symbol) == 2
