from __future__ import annotations

from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side


def posted(fake, cid):
    bodies = [
        r.json for r in fake.requests if r.method == "POST" and r.json["client_order_id"] == cid
    ]
    assert len(bodies) == 1
    return bodies[0]


def test_market_order_carries_the_client_order_id_and_fills(broker, fake):
    ack = broker.submit_order(BrokerOrder("cid-mkt", "AAPL", Side.BUY, 3))
    assert ack.status is OrderStatus.FILLED and ack.filled_qty == 3
    body = posted(fake, "cid-mkt")
    assert body == {
        "symbol": "AAPL",
        "qty": 3.0,
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": "cid-mkt",
    }


def test_limit_stop_stop_limit_and_trailing_stop_bodies(broker, fake):
    fake.exchange.set_price("AAPL", 190.0)
    broker.submit_order(
        BrokerOrder("lim", "AAPL", Side.BUY, 1, OrderType.LIMIT, limit_price=180.123)
    )
    broker.submit_order(
        BrokerOrder("stp", "AAPL", Side.BUY, 1, OrderType.STOP, stop_price=200, time_in_force="gtc")
    )
    broker.submit_order(
        BrokerOrder(
            "stl", "AAPL", Side.BUY, 1, OrderType.STOP_LIMIT, limit_price=201, stop_price=200
        )
    )
    broker.submit_order(
        BrokerOrder("trl", "AAPL", Side.BUY, 1, OrderType.TRAILING_STOP, trail_percent=1.5)
    )
    assert posted(fake, "lim")["limit_price"] == 180.12  # cents, as Alpaca requires
    assert (
        posted(fake, "stp")["time_in_force"] == "gtc" and posted(fake, "stp")["stop_price"] == 200
    )
    assert posted(fake, "stl")["type"] == "stop_limit"
    assert posted(fake, "trl")["trail_percent"] == 1.5
    open_ids = {a.client_order_id for a in broker.get_open_orders()}
    assert open_ids == {"lim", "stp", "stl", "trl"}


def test_bracket_from_sl_and_tp(broker, fake):
    ack = broker.submit_order(
        BrokerOrder("brk", "AAPL", Side.BUY, 5, take_profit=210.0, stop_loss=170.0)
    )
    assert ack.status is OrderStatus.FILLED
    body = posted(fake, "brk")
    assert body["order_class"] == "bracket"
    assert body["take_profit"] == {"limit_price": 210.0}
    assert body["stop_loss"] == {"stop_price": 170.0}


def test_fractional_quantity_and_notional_on_fractionable_stock(broker, fake):
    assert (
        broker.submit_order(BrokerOrder("frac", "AAPL", Side.BUY, 0.5, time_in_force="gtc")).status
        is OrderStatus.FILLED
    )
    assert posted(fake, "frac")["time_in_force"] == "day"  # Alpaca: fractional orders are day
    ack = broker.submit_order(BrokerOrder("notl", "AAPL", Side.BUY, None, notional=95.0))
    assert ack.status is OrderStatus.FILLED and abs(ack.filled_qty - 0.5) < 1e-9
    assert posted(fake, "notl")["notional"] == 95.0 and "qty" not in posted(fake, "notl")


def test_fractional_on_non_fractionable_stock_is_rejected_before_sending(broker, fake):
    ack = broker.submit_order(BrokerOrder("gme-frac", "GME", Side.BUY, 1.5))
    assert ack.status is OrderStatus.REJECTED and "not fractionable" in ack.message
    assert fake.count("POST", "/v2/orders") == 0


def test_crypto_uses_pair_symbol_gtc_and_reports_positions_in_the_callers_spelling(broker, fake):
    ack = broker.submit_order(BrokerOrder("btc", "BTCUSD", Side.BUY, 0.01))
    assert ack.status is OrderStatus.FILLED
    body = posted(fake, "btc")
    assert (body["symbol"], body["time_in_force"], body["qty"]) == ("BTC/USD", "gtc", 0.01)
    assert [(p.symbol, p.qty) for p in broker.get_positions()] == [("BTCUSD", 0.01)]


def test_crypto_short_and_crypto_bracket_are_refused(broker, fake):
    short = broker.submit_order(BrokerOrder("btc-short", "BTC/USD", Side.SELL, 1))
    assert short.status is OrderStatus.REJECTED and "does not short crypto" in short.message
    bracket = broker.submit_order(
        BrokerOrder("btc-brk", "BTC/USD", Side.BUY, 0.1, stop_loss=1.0, take_profit=9e9)
    )
    assert bracket.status is OrderStatus.REJECTED and "bracket" in bracket.message
    assert fake.count("POST", "/v2/orders") == 0


def test_short_only_where_shortable(broker, fake):
    refused = broker.submit_order(BrokerOrder("gme-short", "GME", Side.SELL, 2))
    assert refused.status is OrderStatus.REJECTED and "not shortable" in refused.message
    allowed = broker.submit_order(BrokerOrder("aapl-short", "AAPL", Side.SELL, 2))
    assert allowed.status is OrderStatus.FILLED
    assert [(p.symbol, p.qty) for p in broker.get_positions()] == [("AAPL", -2.0)]


def test_insufficient_buying_power_is_a_rejection_with_alpacas_message(broker, fake):
    ack = broker.submit_order(BrokerOrder("huge", "AAPL", Side.BUY, 10_000))
    assert ack.status is OrderStatus.REJECTED
    assert ack.message == "insufficient buying power"


def test_a_422_from_alpaca_is_a_rejection_not_an_exception(broker, fake):
    fake.fail("POST", "/v2/orders", 422, {"code": 40010001, "message": "qty must be > 0"})
    ack = broker.submit_order(BrokerOrder("bad", "AAPL", Side.BUY, 1))
    assert (ack.status, ack.message) == (OrderStatus.REJECTED, "qty must be > 0")
    assert fake.count("POST", "/v2/orders") == 1


def test_market_orders_wait_for_the_stock_market_to_open(broker, fake):
    fake.exchange.is_open = False
    ack = broker.submit_order(BrokerOrder("closed", "AAPL", Side.BUY, 1))
    assert ack.status is OrderStatus.REJECTED and "market is closed" in ack.message
    assert (
        broker.submit_order(BrokerOrder("opg", "AAPL", Side.BUY, 1, time_in_force="opg")).status
        is not OrderStatus.REJECTED
    )
    assert (
        broker.submit_order(BrokerOrder("btc-night", "BTC/USD", Side.BUY, 0.01)).status
        is OrderStatus.FILLED
    )


def test_submitting_a_known_client_order_id_places_nothing(broker, fake):
    first = broker.submit_order(BrokerOrder("again", "AAPL", Side.BUY, 1))
    second = broker.submit_order(BrokerOrder("again", "AAPL", Side.BUY, 1))
    assert second.broker_order_id == first.broker_order_id
    assert len(fake.exchange.orders) == 1


def test_a_restarted_process_resubmitting_an_id_gets_the_existing_order(fake):
    from conftest import make_broker

    first = make_broker(fake, stream=False)
    first.connect()
    ack = first.submit_order(BrokerOrder("restart-1", "AAPL", Side.BUY, 1))
    second = make_broker(fake, stream=False)  # a new process knows nothing of the first
    second.connect()
    again = second.submit_order(BrokerOrder("restart-1", "AAPL", Side.BUY, 1))
    assert again.broker_order_id == ack.broker_order_id and again.status is OrderStatus.FILLED
    assert len(fake.exchange.orders) == 1


def test_cancel_get_order_and_unknown_ids(broker, fake):
    broker.submit_order(BrokerOrder("rest", "AAPL", Side.BUY, 1, OrderType.LIMIT, limit_price=100))
    assert broker.get_order("rest").status is OrderStatus.ACCEPTED
    assert broker.cancel_order("rest").status is OrderStatus.CANCELED
    assert broker.get_order("never-sent") is None
    assert broker.cancel_order("never-sent").status is OrderStatus.REJECTED
    assert broker.get_open_orders() == []


def test_account_info(broker, fake):
    broker.submit_order(BrokerOrder("acct", "AAPL", Side.BUY, 10))
    info = broker.get_account_info()
    assert (info.account_id, info.mode, info.cash) == ("PA3FAKE00001", "paper", 100_000 - 1900)
    assert info.positions[0].symbol == "AAPL"
