"""Brackets at Alpaca through the real alpaca-py against the fake: one POST with
``order_class=bracket`` (``oto`` for one exit), legs held until the entry fills, then working;
leg fills reported as ``<cid>/tp`` / ``<cid>/sl``; a leg addressed by that name for get_order,
cancel_order and replace_order (``PATCH /v2/orders/{leg id}``)."""

from __future__ import annotations

import pytest
from conftest import make_broker, wait_for
from stratequeue.brokers.base import Capability
from stratequeue.models import BrokerOrder, OrderStatus, Side
from stratequeue_alpaca import AlpacaBroker


def collect(broker, n: int, timeout: float = 5.0):
    fills = []
    wait_for(lambda: fills.extend(broker.poll_fills()) or len(fills) >= n, timeout)
    return fills


def bracket(cid: str, qty: float, tp: float | None = 200.0, sl: float | None = 180.0, **kw):
    return BrokerOrder(
        cid,
        "AAPL",
        Side.BUY,
        qty,
        take_profit=tp,
        stop_loss=sl,
        order_class="bracket" if tp and sl else "oto",
        **kw,
    )


def legs_of(fake, cid: str) -> dict[str, dict]:
    parent = fake.exchange.by_client_id(cid)
    return {leg["type"]: leg for leg in parent["legs"]}


def test_alpaca_declares_what_it_can_do():
    assert AlpacaBroker.capabilities == {
        Capability.MARKET,
        Capability.LIMIT,
        Capability.STOP,
        Capability.STOP_LIMIT,
        Capability.BRACKET,
        Capability.OCO,
        Capability.REPLACE,
        Capability.PARTIAL_FILLS,
        Capability.FRACTIONAL,
        Capability.SHORT,
        Capability.EXECUTIONS,
        Capability.NETWORK,
    }


def test_a_bracket_is_one_post_and_its_legs_work_from_the_entry_fill(fake):
    fake.exchange.fill_mode = "manual"  # the entry waits, so the held legs can be seen
    broker = make_broker(fake)
    assert broker.connect()
    try:
        ack = broker.submit_order(bracket("b-1", 10))
        assert ack.status is OrderStatus.ACCEPTED
        (body,) = [r.json for r in fake.requests if r.method == "POST"]
        assert body == {
            "symbol": "AAPL",
            "qty": 10.0,
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "client_order_id": "b-1",
            "order_class": "bracket",
            "take_profit": {"limit_price": 200.0},
            "stop_loss": {"stop_price": 180.0},
        }
        legs = legs_of(fake, "b-1")
        assert {k: (v["side"], v["status"]) for k, v in legs.items()} == {
            "limit": ("sell", "held"),
            "stop": ("sell", "held"),
        }
        assert broker.get_order("b-1/sl").status is OrderStatus.ACCEPTED
        fake.fill("b-1", price=190.0)
        # At the broker from the entry's fill on, whatever the client has seen.
        assert {v["status"] for v in legs_of(fake, "b-1").values()} == {"new"}
        (fill,) = collect(broker, 1)
        assert (fill.client_order_id, fill.qty, fill.price) == ("b-1", 10, 190.0)
        sl = broker.get_order("b-1/sl")
        assert (sl.client_order_id, sl.status, sl.broker_order_id) == (
            "b-1/sl",
            OrderStatus.ACCEPTED,
            legs_of(fake, "b-1")["stop"]["id"],
        )
        assert fake.count("POST", "/v2/orders") == 1
    finally:
        broker.disconnect()


def test_one_exit_goes_out_as_oto(broker, fake):
    broker.submit_order(bracket("o-1", 3, tp=None, sl=180.0))
    (body,) = [r.json for r in fake.requests if r.method == "POST"]
    assert (body["order_class"], body["stop_loss"], "take_profit" in body) == (
        "oto",
        {"stop_price": 180.0},
        False,
    )
    assert [leg["type"] for leg in fake.exchange.by_client_id("o-1")["legs"]] == ["stop"]
    collect(broker, 1)
    assert broker.get_order("o-1/sl").status is OrderStatus.ACCEPTED
    assert broker.get_order("o-1/tp") is None  # no take-profit leg


def test_a_replacement_that_fills_at_once_is_still_the_leg(broker, fake):
    """The new leg may fill (and be streamed) before the PATCH answer arrives: its fill is
    known by the leg it replaces."""
    broker.submit_order(bracket("b-8", 3))
    collect(broker, 1)
    old = legs_of(fake, "b-8")["stop"]
    fake.slow("PATCH", f"/v2/orders/{old['id']}", 0.5)  # the stream's fill arrives first
    ack = broker.replace_order("b-8/sl", "b-8/sl", stop_price=191.0)  # above the price: hit
    assert ack.status is OrderStatus.FILLED
    fills = collect(broker, 1)
    assert [(f.client_order_id, f.qty) for f in fills] == [("b-8/sl", 3)]
    assert broker.get_positions() == []


@pytest.mark.parametrize(
    ("price", "filled", "canceled", "fill_price"),
    [(201.0, "tp", "stop", 201.0), (179.0, "sl", "limit", 179.0)],
)
def test_a_leg_fill_comes_back_as_tp_or_sl_and_cancels_the_other(
    broker, fake, price, filled, canceled, fill_price
):
    broker.submit_order(bracket("b-2", 10))
    assert [f.client_order_id for f in collect(broker, 1)] == ["b-2"]
    events = fake.exchange.set_price("AAPL", price)
    assert [e["event"] for e in events] == ["fill", "canceled"]
    assert events[1]["order"]["type"] == canceled
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.side, fill.qty, fill.price) == (
        f"b-2/{filled}",
        Side.SELL,
        10,
        fill_price,
    )
    assert broker.get_positions() == []
    assert broker.get_order(f"b-2/{filled}").status is OrderStatus.FILLED
    assert broker.get_order(f"b-2/{'tp' if filled == 'sl' else 'sl'}").status is (
        OrderStatus.CANCELED
    )


def test_replacing_a_leg_is_one_patch_and_the_new_leg_fills_under_the_same_name(broker, fake):
    broker.submit_order(bracket("b-3", 10))
    collect(broker, 1)
    old = legs_of(fake, "b-3")["stop"]
    ack = broker.replace_order("b-3/sl", "b-3/sl", stop_price=185.0)
    assert (ack.client_order_id, ack.status) == ("b-3/sl", OrderStatus.ACCEPTED)
    (patch,) = [r for r in fake.requests if r.method == "PATCH"]
    assert (patch.path, patch.json) == (f"/v2/orders/{old['id']}", {"stop_price": 185.0})
    new = legs_of(fake, "b-3")["stop"]
    assert new["id"] != old["id"] and ack.broker_order_id == new["id"]
    assert (new["replaces"], new["stop_price"], new["status"]) == (old["id"], "185.0", "new")
    assert (old["status"], old["replaced_by"]) == ("replaced", new["id"])
    assert (
        fake.count("POST", "/v2/orders") == 1
        and fake.count("DELETE", f"/v2/orders/{old['id']}") == 0
    )
    assert fake.exchange.set_price("AAPL", 186.0) == []  # above the new stop
    fake.exchange.set_price("AAPL", 184.5)
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.qty, fill.price) == ("b-3/sl", 10, 184.5)
    assert legs_of(fake, "b-3")["limit"]["status"] == "canceled"


def test_a_replace_answered_with_the_new_order_is_the_sdks_order(broker, fake):
    """alpaca-py parses the PATCH answer as an Order: the fake's answer has Alpaca's shape."""
    broker.submit_order(bracket("b-4", 2))
    collect(broker, 1)
    old = legs_of(fake, "b-4")["limit"]
    placed = broker._client.replace_order_by_id(old["id"], _replace_request(limit_price=205.0))
    assert (str(placed.replaces), str(placed.id), float(placed.limit_price)) == (
        old["id"],
        legs_of(fake, "b-4")["limit"]["id"],
        205.0,
    )
    assert fake.exchange.get(old["id"])["status"] == "replaced"


def _replace_request(**fields):
    from alpaca.trading.requests import ReplaceOrderRequest

    return ReplaceOrderRequest(**fields)


def test_a_filled_or_unknown_order_is_not_replaced(broker, fake):
    broker.submit_order(bracket("b-5", 1))
    collect(broker, 1)
    fake.exchange.set_price("AAPL", 201.0)
    collect(broker, 1)
    ack = broker.replace_order("b-5/tp", "b-5/tp", limit_price=210.0)
    assert ack.status is OrderStatus.REJECTED and "filled" in ack.message
    ack = broker.replace_order("nope/sl", "nope/sl", stop_price=1.0)
    assert ack.status is OrderStatus.REJECTED
    assert fake.count("PATCH", f"/v2/orders/{legs_of(fake, 'b-5')['limit']['id']}") == 0


def test_canceling_a_leg_by_name(broker, fake):
    broker.submit_order(bracket("b-6", 4))
    collect(broker, 1)
    tp = legs_of(fake, "b-6")["limit"]
    ack = broker.cancel_order("b-6/tp")
    assert (ack.client_order_id, ack.status) == ("b-6/tp", OrderStatus.CANCELED)
    assert fake.count("DELETE", f"/v2/orders/{tp['id']}") == 1
    assert legs_of(fake, "b-6")["stop"]["status"] == "new"
    ack = broker.cancel_order("b-6/sl")
    assert ack.status is OrderStatus.CANCELED
    assert fake.exchange.set_price("AAPL", 170.0) == []
    assert [(p.symbol, p.qty) for p in broker.get_positions()] == [("AAPL", 4)]


def test_working_legs_hold_the_shares_like_alpaca(broker, fake):
    """A sell of shares a bracket's legs hold is refused (insufficient qty available): the legs
    must be canceled before the position is closed another way."""
    broker.submit_order(bracket("b-7", 5))
    collect(broker, 1)
    ack = broker.submit_order(BrokerOrder("close-1", "AAPL", Side.SELL, 5))
    assert ack.status is OrderStatus.REJECTED
    assert "insufficient qty available" in ack.message
    broker.cancel_order("b-7/tp")
    broker.cancel_order("b-7/sl")
    assert broker.submit_order(BrokerOrder("close-2", "AAPL", Side.SELL, 5)).status in (
        OrderStatus.FILLED,
        OrderStatus.ACCEPTED,
    )
    assert broker.get_positions() == []
