"""The broker conformance kit: what every broker plugin must do, as pytest cases.

A plugin runs it against its own fake by providing ONE fixture, ``broker_harness``, that yields
a :class:`~stratequeue.testing.harness.BrokerHarness` (a connected broker plus a handle on its
venue), in a test module that imports the cases::

    from stratequeue.testing.conformance import *  # noqa: F403

    @pytest.fixture
    def broker_harness():
        with MyFake() as fake:
            harness = MyHarness(fake)
            yield harness
            harness.broker.disconnect()

A case needing a capability the broker does not declare (``BaseBroker.capabilities``) is
skipped with the reason ``"<broker>: no Capability.<NAME>"``: run pytest with ``-rs`` to see
the list. Needs pytest (a test dependency, never the core's).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pytest

from ..brokers.base import BaseBroker, Capability, OrderAck
from ..models import BrokerOrder, Fill, OrderStatus, OrderType, Side
from .harness import BrokerHarness

__all__ = [
    "require",
    "test_a_dropped_connection_still_delivers_each_fill_once",
    "test_a_refused_order_is_rejected_with_the_brokers_message",
    "test_a_short_sale_opens_a_negative_position",
    "test_an_order_is_found_by_client_id_from_a_fresh_connection",
    "test_bracket_legs_are_reported_and_one_fill_cancels_the_other",
    "test_cancel_stops_a_working_order",
    "test_each_execution_is_delivered_once",
    "test_executions_keep_their_ids_across_a_restart",
    "test_fractional_quantities_fill_exactly",
    "test_limit_order_waits_for_its_price",
    "test_market_order_fills_at_the_market",
    "test_oco_one_leg_fills_and_cancels_the_other",
    "test_partial_fills_are_reported_once_each_with_cumulative_quantities",
    "test_positions_and_equity_follow_the_fills",
    "test_rate_limits_and_server_errors_are_retried_without_a_duplicate_order",
    "test_replace_changes_a_working_orders_price",
    "test_restart_sees_open_orders_positions_and_executions",
    "test_stop_limit_order_triggers_then_fills_at_its_limit_or_better",
    "test_stop_order_triggers_at_its_stop",
    "test_submit_is_idempotent_on_the_client_order_id",
]

#: how long a case waits for an execution to be reported, and then for any duplicate of it
WAIT = 5.0
SETTLE = 0.5


def require(harness: BrokerHarness, *needed: Capability) -> None:
    """Skip the calling case, by name, unless the broker declares every capability."""
    broker = harness.broker
    missing = [c for c in needed if c not in broker.capabilities]
    if missing:
        names = ", ".join(f"Capability.{c.name}" for c in missing)
        case = sys._getframe(1).f_code.co_name
        pytest.skip(f"{broker.name or type(broker).__name__}: no {names} ({case})")


# -- helpers --------------------------------------------------------------------------------
def _cents(value: float) -> float:
    return round(value, 2)


def _wait(what: str, predicate: Callable[[], object], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)


def _fills(broker: BaseBroker, cid: str, qty: float) -> list[Fill]:
    """The fills of ``cid`` (and of its legs ``cid/..``) until ``qty`` is reported, then any
    that come within :data:`SETTLE` seconds more (there should be none)."""
    got: list[Fill] = []

    def ours() -> float:
        got.extend(broker.poll_fills())
        return sum(f.qty for f in got if f.client_order_id.split("/")[0] == cid)

    _wait(f"fills of {qty:g} for {cid}", lambda: ours() >= qty - 1e-9)
    end = time.monotonic() + SETTLE
    while time.monotonic() < end:
        ours()
        time.sleep(0.02)
    return [f for f in got if f.client_order_id.split("/")[0] == cid]


def _no_fills(broker: BaseBroker, cid: str) -> None:
    time.sleep(SETTLE)
    late = [f for f in broker.poll_fills() if f.client_order_id.split("/")[0] == cid]
    assert late == [], f"{cid} filled when it should not have: {late}"


def _status(broker: BaseBroker, cid: str) -> OrderStatus:
    ack = broker.get_order(cid)
    assert ack is not None, f"the broker does not know order {cid}"
    return ack.status


def _held(broker: BaseBroker, symbol: str) -> float:
    return sum(p.qty for p in broker.get_positions() if p.symbol == symbol)


def _limit(h: BrokerHarness, cid: str, side: Side, qty: float, at: float) -> BrokerOrder:
    return BrokerOrder(
        cid, h.symbol, side, qty, OrderType.LIMIT, limit_price=_cents(at), time_in_force="gtc"
    )


def _placed(ack: OrderAck, cid: str) -> None:
    assert ack.client_order_id == cid
    assert ack.status not in (OrderStatus.REJECTED, OrderStatus.PENDING, OrderStatus.UNKNOWN), (
        f"{cid}: {ack.status} {ack.message}"
    )
    assert ack.broker_order_id, f"{cid}: no broker order id in {ack}"


def _assert_once(fills: list[Fill], cid: str, qty: float) -> None:
    """Each execution once: quantities add up, ids and cumulative quantities never repeat."""
    assert sum(f.qty for f in fills) == qty, f"{cid}: {qty:g} expected in {fills}"
    ids = [f.execution_id for f in fills]
    assert all(ids) and len(set(ids)) == len(ids), f"execution ids of {cid}: {ids}"
    by_order: dict[str, list[float]] = {}
    for f in fills:
        by_order.setdefault(f.client_order_id, []).append(f.cum_qty or 0.0)
    for name, cums in by_order.items():
        assert all(c > 0 for c in cums), f"{name}: fills without cum_qty: {fills}"
        assert cums == sorted(set(cums)), f"{name}: cumulative quantities {cums} repeat"


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
