"""OCO exit orders: one take-profit limit and one stop loss for a trade's shares, through the
real alpaca-py against the fake. Fills come back as ``<cid>/tp`` and ``<cid>/sl``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import make_broker, wait_for
from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side


def collect(broker, n: int, timeout: float = 5.0):
    fills = []
    wait_for(lambda: fills.extend(broker.poll_fills()) or len(fills) >= n, timeout)
    return fills


def oco(cid: str, side: Side, qty: float, tp: float, sl: float, symbol: str = "AAPL", **kw):
    return BrokerOrder(
        cid,
        symbol,
        side,
        qty,
        order_type=OrderType.LIMIT,
        limit_price=tp,
        take_profit=tp,
        stop_loss=sl,
        order_class="oco",
        **{"time_in_force": "gtc", **kw},
    )


def hold(broker, qty: float, side: Side = Side.BUY, symbol: str = "AAPL") -> None:
    """Open a position (market order, filled at once by the fake) and drain its fill."""
    broker.submit_order(BrokerOrder(f"entry-{symbol}-{side}", symbol, side, qty))
    assert [f.client_order_id for f in collect(broker, 1)] == [f"entry-{symbol}-{side}"]


def events_of(events):
    return [(e["event"], e["order"]["type"]) for e in events]


def test_an_oco_is_one_limit_order_with_take_profit_and_stop_loss(broker, fake):
    hold(broker, 10)
    ack = broker.submit_order(oco("x-1", Side.SELL, 10, tp=200.0, sl=180.0))
    assert ack.status is OrderStatus.ACCEPTED and ack.filled_qty == 0
    (body,) = [r.json for r in fake.requests if r.json and r.json.get("client_order_id") == "x-1"]
    assert body == {
        "symbol": "AAPL",
        "qty": 10.0,
        "side": "sell",
        "type": "limit",
        "time_in_force": "gtc",
        "client_order_id": "x-1",
        "order_class": "oco",
        "take_profit": {"limit_price": 200.0},
        "stop_loss": {"stop_price": 180.0},
    }
    placed = fake.exchange.by_client_id("x-1")
    assert (placed["order_class"], placed["type"], placed["limit_price"]) == (
        "oco",
        "limit",
        "200.0",
    )
    (leg,) = placed["legs"]
    assert (leg["type"], leg["side"], leg["stop_price"], leg["qty"], leg["status"]) == (
        "stop",
        "sell",
        "180.0",
        "10.0",
        "new",
    )
    assert fake.count("POST", "/v2/orders") == 2  # the entry and the one OCO, no second sell


def test_take_profit_path_fills_tp_and_cancels_the_stop(broker, fake):
    hold(broker, 10)
    broker.submit_order(oco("x-tp", Side.SELL, 10, tp=200.0, sl=180.0))
    assert fake.exchange.set_price("AAPL", 195.0) == []  # neither leg reached
    events = fake.exchange.set_price("AAPL", 201.0)
    assert events_of(events) == [("fill", "limit"), ("canceled", "stop")]
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.symbol, fill.side, fill.qty, fill.price) == (
        "x-tp/tp",
        "AAPL",
        Side.SELL,
        10,
        201.0,
    )
    placed = fake.exchange.by_client_id("x-tp")
    assert (placed["status"], placed["legs"][0]["status"]) == ("filled", "canceled")
    assert fake.exchange.set_price("AAPL", 170.0) == []  # the canceled stop stays canceled
    assert broker.poll_fills() == []
    assert broker.get_positions() == []
    ack = broker.get_order("x-tp")
    assert (ack.status, ack.filled_qty, ack.filled_avg_price) == (OrderStatus.FILLED, 10, 201.0)


def test_stop_loss_path_fills_sl_and_cancels_the_limit(broker, fake):
    hold(broker, 10)
    broker.submit_order(oco("x-sl", Side.SELL, 10, tp=200.0, sl=180.0))
    events = fake.exchange.set_price("AAPL", 179.5)
    assert events_of(events) == [("fill", "stop"), ("canceled", "limit")]
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.side, fill.qty, fill.price) == (
        "x-sl/sl",
        Side.SELL,
        10,
        179.5,  # a price move past the stop fills at the market
    )
    placed = fake.exchange.by_client_id("x-sl")
    assert (placed["status"], placed["legs"][0]["status"]) == ("canceled", "filled")
    assert broker.get_positions() == []
    ack = broker.get_order("x-sl")
    assert (ack.status, ack.filled_qty, ack.filled_avg_price) == (OrderStatus.FILLED, 10, 179.5)
    assert ack.broker_order_id == placed["id"]


def test_a_bar_reaching_the_stop_fills_it_at_the_stop(broker, fake):
    hold(broker, 4)
    broker.submit_order(oco("x-bar", Side.SELL, 4, tp=200.0, sl=185.0))
    fake.push_bar("AAPL", datetime(2024, 6, 3, 13, 31, tzinfo=UTC), 189.0, 190.0, 184.0, 186.0)
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.price) == ("x-bar/sl", 185.0)
    fake.push_bar("AAPL", datetime(2024, 6, 3, 13, 32, tzinfo=UTC), 199.0, 205.0, 198.0, 204.0)
    assert broker.poll_fills() == []
    assert broker.get_positions() == []


def test_a_short_is_covered_by_a_buy_oco(broker, fake):
    hold(broker, 5, Side.SELL)
    assert [(p.symbol, p.qty) for p in broker.get_positions()] == [("AAPL", -5)]
    ack = broker.submit_order(oco("x-cover", Side.BUY, 5, tp=180.0, sl=200.0))
    assert ack.status is OrderStatus.ACCEPTED
    assert events_of(fake.exchange.set_price("AAPL", 179.0)) == [
        ("fill", "limit"),
        ("canceled", "stop"),
    ]
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.side, fill.qty, fill.price) == (
        "x-cover/tp",
        Side.BUY,
        5,
        179.0,
    )
    assert broker.get_positions() == []


def test_a_short_stop_loss_buys_when_the_price_rises(broker, fake):
    hold(broker, 5, Side.SELL)
    broker.submit_order(oco("x-cover-sl", Side.BUY, 5, tp=180.0, sl=200.0))
    assert events_of(fake.exchange.set_price("AAPL", 200.0)) == [
        ("fill", "stop"),
        ("canceled", "limit"),
    ]
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.side, fill.price) == ("x-cover-sl/sl", Side.BUY, 200.0)
    assert broker.get_positions() == []


def test_get_order_while_working_and_after_cancel(broker, fake):
    hold(broker, 3)
    broker.submit_order(oco("x-wait", Side.SELL, 3, tp=200.0, sl=180.0))
    ack = broker.get_order("x-wait")
    assert (ack.status, ack.filled_qty, ack.filled_avg_price) == (OrderStatus.ACCEPTED, 0, None)
    assert [a.client_order_id for a in broker.get_open_orders()] == ["x-wait"]
    canceled = broker.cancel_order("x-wait")
    assert canceled.status is OrderStatus.CANCELED
    placed = fake.exchange.by_client_id("x-wait")
    assert (placed["status"], placed["legs"][0]["status"]) == ("canceled", "canceled")
    assert broker.get_open_orders() == []
    assert fake.exchange.set_price("AAPL", 170.0) == []
    assert [(p.symbol, p.qty) for p in broker.get_positions()] == [("AAPL", 3)]


def test_polled_fills_use_the_same_ids_without_the_stream(fake):
    broker = make_broker(fake, stream=False)
    assert broker.connect()
    try:
        hold(broker, 2)
        broker.submit_order(oco("x-poll", Side.SELL, 2, tp=200.0, sl=180.0))
        fake.exchange.set_price("AAPL", 175.0)
        assert [(f.client_order_id, f.price) for f in broker.poll_fills()] == [("x-poll/sl", 175.0)]
        assert broker.poll_fills() == []
        assert broker.get_order("x-poll").status is OrderStatus.FILLED
        assert broker.poll_fills() == []  # get_order's polled state counts nothing twice
    finally:
        broker.disconnect()


def test_stream_and_polling_together_report_one_fill(broker, fake):
    hold(broker, 2)
    broker.submit_order(oco("x-both", Side.SELL, 2, tp=200.0, sl=180.0))
    fake.exchange.set_price("AAPL", 200.0)
    (fill,) = collect(broker, 1)
    assert fill.client_order_id == "x-both/tp"
    broker.disconnect()  # no stream now: get_order records fills from the polled state
    ack = broker.get_order("x-both")
    assert (ack.status, ack.filled_qty) == (OrderStatus.FILLED, 2)
    assert broker.poll_fills() == []


def test_crypto_oco_is_refused_before_sending(broker, fake):
    hold(broker, 1, symbol="BTC/USD")
    ack = broker.submit_order(
        oco("x-btc", Side.SELL, 1, tp=70_000.0, sl=60_000.0, symbol="BTC/USD")
    )
    assert ack.status is OrderStatus.REJECTED
    assert "OCO" in ack.message and "crypto" in ack.message
    assert fake.count("POST", "/v2/orders", client_order_id="x-btc") == 0


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (oco("bad-1", Side.SELL, 10, tp=180.0, sl=200.0), "must be above"),
        (oco("bad-2", Side.BUY, 10, tp=200.0, sl=180.0), "must be below"),
        (oco("bad-3", Side.SELL, 2.5, tp=200.0, sl=180.0), "whole shares"),
        (oco("bad-4", Side.SELL, 10, tp=200.0, sl=None), "needs both"),
        (
            BrokerOrder(
                "bad-5",
                "AAPL",
                Side.SELL,
                10,
                OrderType.STOP,
                stop_price=180.0,
                take_profit=200.0,
                stop_loss=180.0,
                order_class="oco",
            ),
            "limit order",
        ),
        (oco("bad-6", Side.SELL, 10, tp=200.0, sl=180.0, time_in_force="ioc"), "day or gtc"),
        (BrokerOrder("bad-7", "AAPL", Side.SELL, 1, order_class="fancy"), "order class"),
    ],
)
def test_malformed_oco_is_refused_with_a_reason(broker, fake, order, words):
    hold(broker, 10)
    ack = broker.submit_order(order)
    assert ack.status is OrderStatus.REJECTED and words in ack.message
    assert fake.count("POST", "/v2/orders", client_order_id=order.client_order_id) == 0


def test_entries_keep_their_bracket_and_oto_classes(broker, fake):
    broker.submit_order(BrokerOrder("e-1", "AAPL", Side.BUY, 1, take_profit=200.0, stop_loss=180.0))
    broker.submit_order(
        BrokerOrder(
            "e-2", "AAPL", Side.BUY, 1, take_profit=200.0, stop_loss=180.0, order_class="bracket"
        )
    )
    broker.submit_order(BrokerOrder("e-3", "AAPL", Side.BUY, 1, stop_loss=180.0, order_class="oto"))
    bodies = {r.json["client_order_id"]: r.json for r in fake.requests if r.json}
    assert [bodies[c]["order_class"] for c in ("e-1", "e-2", "e-3")] == [
        "bracket",
        "bracket",
        "oto",
    ]
    assert bodies["e-2"]["type"] == "market" and "limit_price" not in bodies["e-2"]


def test_the_fake_refuses_crypto_and_inverted_oco_like_alpaca(fake):
    from stratequeue_alpaca.testing import ApiError

    body = {
        "symbol": "AAPL",
        "qty": 1,
        "side": "sell",
        "type": "limit",
        "time_in_force": "gtc",
        "order_class": "oco",
        "take_profit": {"limit_price": 170.0},
        "stop_loss": {"stop_price": 180.0},
    }
    with pytest.raises(ApiError, match="profit side"):
        fake.exchange.submit(body)
    with pytest.raises(ApiError, match="crypto orders not allowed"):
        fake.exchange.submit({**body, "symbol": "BTC/USD", "take_profit": {"limit_price": 1e6}})
    with pytest.raises(ApiError, match="require take_profit"):
        fake.exchange.submit({**body, "stop_loss": None})
