"""Orders at the wire: configurations, increments, product ids, rejections, cancel, edit."""

from __future__ import annotations

import logging

import pytest
from conftest import make_broker, wait_for
from stratequeue.errors import UsageError
from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side
from stratequeue_coinbase import CoinbaseBroker
from stratequeue_coinbase.products import product_id
from stratequeue_coinbase.testing import FakeCoinbase

ORDERS = "/api/v3/brokerage/orders"


def _body(fake: FakeCoinbase, cid: str) -> dict:
    (body,) = [r.body for r in fake.log if r.path == ORDERS and r.body["client_order_id"] == cid]
    return body


@pytest.mark.parametrize("typed", ["BTC", "BTCUSD", "BTC/USD", "btc-usd", "BTC_USD"])
def test_the_symbols_users_type_are_coinbase_product_ids(typed: str) -> None:
    assert product_id(typed) == "BTC-USD"


def test_other_quotes_and_bad_symbols() -> None:
    assert product_id("ETHUSDC") == "ETH-USDC"
    assert product_id("ETH/BTC") == "ETH-BTC"
    with pytest.raises(UsageError, match="BTC-USD"):
        product_id("BTC USD!")


def test_the_mapping_is_said_once_and_orders_go_to_the_product(
    fake: FakeCoinbase, broker: CoinbaseBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "stratequeue_coinbase")
    broker.submit_order(BrokerOrder("map-1", "btc/usd", Side.BUY, 0.01))
    broker.submit_order(BrokerOrder("map-2", "btc/usd", Side.BUY, 0.01))
    assert _body(fake, "map-2")["product_id"] == "BTC-USD"
    said = [r.getMessage() for r in caplog.records if "is Coinbase product" in r.getMessage()]
    assert said == ["Symbol btc/usd is Coinbase product BTC-USD"]
    assert {p.symbol for p in broker.get_positions()} == {"btc/usd"}


def test_sizes_and_prices_are_put_on_the_products_increments(fake: FakeCoinbase) -> None:
    fake.exchange.add_product(
        "ETH-USD", 3000.0, base_increment="0.0001", quote_increment="0.05", base_min_size="0.001"
    )
    broker = make_broker(fake)
    broker.connect()
    try:
        order = BrokerOrder(
            "inc-1",
            "ETH-USD",
            Side.BUY,
            0.123456,
            OrderType.LIMIT,
            limit_price=2999.93,
            time_in_force="gtc",
        )
        assert broker.submit_order(order).status is OrderStatus.ACCEPTED
        config = _body(fake, "inc-1")["order_configuration"]["limit_limit_gtc"]
        assert (config["base_size"], config["limit_price"]) == ("0.1234", "2999.95")
        tiny = broker.submit_order(BrokerOrder("inc-2", "ETH-USD", Side.BUY, 0.0009))
        assert tiny.status is OrderStatus.REJECTED and "minimum size 0.001" in tiny.message
    finally:
        broker.disconnect()


def test_each_order_type_has_its_coinbase_configuration(
    fake: FakeCoinbase, broker: CoinbaseBroker
) -> None:
    px = 60_000.0
    orders = [
        BrokerOrder("cfg-mkt", "BTC-USD", Side.BUY, 0.001),
        BrokerOrder("cfg-notional", "BTC-USD", Side.BUY, None, notional=100.0),
        BrokerOrder(
            "cfg-gtc", "BTC-USD", Side.BUY, 0.001, OrderType.LIMIT, px * 0.9, time_in_force="gtc"
        ),
        BrokerOrder(
            "cfg-gtd", "BTC-USD", Side.BUY, 0.001, OrderType.LIMIT, px * 0.9, time_in_force="day"
        ),
        BrokerOrder(
            "cfg-ioc", "BTC-USD", Side.BUY, 0.001, OrderType.LIMIT, px * 0.9, time_in_force="ioc"
        ),
        BrokerOrder(
            "cfg-stl",
            "BTC-USD",
            Side.BUY,
            0.001,
            OrderType.STOP_LIMIT,
            px * 1.06,
            px * 1.05,
            time_in_force="gtc",
        ),
        BrokerOrder(
            "cfg-oco",
            "BTC-USD",
            Side.SELL,
            0.001,
            OrderType.LIMIT,
            px * 1.1,
            take_profit=px * 1.1,
            stop_loss=px * 0.9,
            order_class="oco",
        ),
    ]
    acks = {o.client_order_id: broker.submit_order(o) for o in orders}
    keys = {cid: next(iter(_body(fake, cid)["order_configuration"])) for cid in acks}
    assert keys == {
        "cfg-mkt": "market_market_ioc",
        "cfg-notional": "market_market_ioc",
        "cfg-gtc": "limit_limit_gtc",
        "cfg-gtd": "limit_limit_gtd",
        "cfg-ioc": "sor_limit_ioc",
        "cfg-stl": "stop_limit_stop_limit_gtc",
        "cfg-oco": "trigger_bracket_gtc",
    }
    assert _body(fake, "cfg-notional")["order_configuration"]["market_market_ioc"] == {
        "quote_size": "100"
    }
    assert _body(fake, "cfg-stl")["order_configuration"]["stop_limit_stop_limit_gtc"] == {
        "base_size": "0.001",
        "limit_price": "63600",
        "stop_price": "63000",
        "stop_direction": "STOP_DIRECTION_STOP_UP",
    }
    assert _body(fake, "cfg-oco")["order_configuration"]["trigger_bracket_gtc"] == {
        "base_size": "0.001",
        "limit_price": "66000",
        "stop_trigger_price": "54000",
    }
    assert all(a.status is not OrderStatus.REJECTED for a in acks.values()), acks
    assert broker.get_order("cfg-ioc").status is OrderStatus.CANCELED  # nothing at that price
    fills = wait_for(
        lambda: [f for f in broker.poll_fills() if f.client_order_id == "cfg-notional"]
    )
    assert round(fills[0].qty * fills[0].price, 2) == 100.0  # the exact notional


def test_a_bracket_entry_is_refused_with_the_reason(broker: CoinbaseBroker) -> None:
    order = BrokerOrder(
        "brk",
        "BTC-USD",
        Side.BUY,
        0.01,
        take_profit=70_000,
        stop_loss=50_000,
        order_class="bracket",
    )
    ack = broker.submit_order(order)
    assert ack.status is OrderStatus.REJECTED and "exit pair" in ack.message


def test_a_rejection_is_shown_with_coinbases_reason_and_never_placed(
    fake: FakeCoinbase, broker: CoinbaseBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ack = broker.submit_order(BrokerOrder("poor", "BTC-USD", Side.BUY, 10.0))  # $600k > $100k
    assert ack.status is OrderStatus.REJECTED
    assert ack.message == "Coinbase INSUFFICIENT_FUND: Insufficient balance in source account"
    assert "poor" in caplog.text and "INSUFFICIENT_FUND" in caplog.text
    assert broker.get_order("poor").status is OrderStatus.REJECTED
    assert broker.get_open_orders() == [] and broker.get_positions() == []
    fake.exchange.reject_next.append("INVALID_LIMIT_PRICE_POST_ONLY")
    ack = broker.submit_order(BrokerOrder("knob", "BTC-USD", Side.BUY, 0.01))
    assert "INVALID_LIMIT_PRICE_POST_ONLY" in ack.message
    ok = broker.submit_order(BrokerOrder("after", "BTC-USD", Side.BUY, 0.01))  # the run goes on
    assert ok.status is OrderStatus.ACCEPTED


def test_a_repeated_client_order_id_returns_the_existing_order_at_the_venue(
    fake: FakeCoinbase,
) -> None:
    body = {
        "client_order_id": "dup",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000"}},
    }
    first, second = fake.exchange.create(dict(body)), fake.exchange.create(dict(body))
    assert first == second and len(fake.exchange.orders) == 1


def test_cancel_and_edit(fake: FakeCoinbase, broker: CoinbaseBroker) -> None:
    order = BrokerOrder(
        "cx", "BTC-USD", Side.BUY, 0.01, OrderType.LIMIT, 50_000.0, time_in_force="gtc"
    )
    placed = broker.submit_order(order)
    assert broker.api.edit_order(placed.broker_order_id, price="51000", size="0.02")["success"]
    edited = fake.exchange.get(placed.broker_order_id)
    assert edited["order_configuration"]["limit_limit_gtc"]["limit_price"] == "51000"
    assert broker.cancel_order("cx").status is OrderStatus.CANCELED
    assert broker.get_open_orders() == []
    assert not broker.api.edit_order(placed.broker_order_id, price="1", size="1")["success"]
