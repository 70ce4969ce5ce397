from __future__ import annotations

from conftest import make_broker, wait_for
from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side


def collect(broker, n: int, timeout: float = 5.0):
    fills = []
    wait_for(lambda: fills.extend(broker.poll_fills()) or len(fills) >= n, timeout)
    return fills


def test_a_fill_arrives_from_the_trade_updates_stream(broker, fake):
    broker.submit_order(BrokerOrder("s-1", "AAPL", Side.BUY, 2))
    (fill,) = collect(broker, 1)
    assert (fill.client_order_id, fill.symbol, fill.side, fill.qty, fill.price) == (
        "s-1",
        "AAPL",
        Side.BUY,
        2,
        190.0,
    )
    assert fill.execution_id and fill.timestamp.tzinfo is not None
    assert (
        fake.count("GET", "/v2/orders/" + broker.get_order("s-1").broker_order_id) == 0
    )  # no polling


def test_partial_fills_are_several_fill_records(fake):
    fake.exchange.partial_fills = 3
    broker = make_broker(fake)
    broker.connect()
    wait_for(lambda: fake.trade_listeners == 1)
    broker.submit_order(BrokerOrder("p-1", "AAPL", Side.BUY, 9))
    fills = collect(broker, 3)
    assert [f.qty for f in fills] == [3.0, 3.0, 3.0]
    assert broker.poll_fills() == []
    broker.disconnect()


def test_partial_fills_at_different_prices(broker, fake):
    fake.exchange.fill_mode = "manual"
    broker.submit_order(BrokerOrder("p-2", "AAPL", Side.SELL, 4, OrderType.LIMIT, limit_price=180))
    fake.fill("p-2", qty=1, price=181.0)
    assert [(f.qty, f.price) for f in collect(broker, 1)] == [(1.0, 181.0)]
    assert broker.get_order("p-2").status is OrderStatus.PARTIALLY_FILLED
    fake.fill("p-2", price=182.0)
    assert [(f.qty, f.price) for f in collect(broker, 1)] == [(3.0, 182.0)]
    assert broker.get_order("p-2").status is OrderStatus.FILLED


def test_orders_fill_on_the_next_bar_in_on_bar_mode(broker, fake):
    from datetime import UTC, datetime

    fake.exchange.fill_mode = "on_bar"
    ack = broker.submit_order(BrokerOrder("b-1", "AAPL", Side.BUY, 1))
    assert ack.status is OrderStatus.ACCEPTED
    fake.push_bar("AAPL", datetime(2024, 6, 3, 13, 30, tzinfo=UTC), 191.0, 192.0, 190.5, 191.5)
    (fill,) = collect(broker, 1)
    assert fill.price == 191.0  # the bar's open


def test_bracket_legs_report_fills_under_the_parents_id(broker, fake):
    from datetime import UTC, datetime

    broker.submit_order(
        BrokerOrder("brk-1", "AAPL", Side.BUY, 2, take_profit=200.0, stop_loss=180.0)
    )
    assert [f.client_order_id for f in collect(broker, 1)] == ["brk-1"]
    fake.push_bar("AAPL", datetime(2024, 6, 3, 13, 31, tzinfo=UTC), 195.0, 201.0, 194.0, 200.5)
    (exit_fill,) = collect(broker, 1)
    assert (exit_fill.client_order_id, exit_fill.side, exit_fill.price) == (
        "brk-1/tp",
        Side.SELL,
        200.0,
    )
    assert broker.get_positions() == []


def _bracket(cid: str, order_type: OrderType, **prices: float) -> BrokerOrder:
    return BrokerOrder(
        cid, "AAPL", Side.BUY, 2, order_type, take_profit=200.0, stop_loss=185.0, **prices
    )


def test_bracket_legs_work_in_the_entry_bar_only_where_backtesting_py_lets_them(broker, fake):
    """Bars reaching the stop-loss: a market entry's leg fills in the entry bar (as
    backtesting.py reprocesses it), a limit entry's waits for the next bar (the bar does not
    say whether the price reached the stop before or after the entry)."""
    from datetime import UTC, datetime

    def bar(minute: int, low: float) -> None:
        t = datetime(2024, 6, 3, 13, minute, tzinfo=UTC)
        fake.push_bar("AAPL", t, 190.0, 191.0, low, 186.0)

    fake.exchange.fill_mode = "on_bar"
    broker.submit_order(_bracket("lmt", OrderType.LIMIT, limit_price=189.0))
    bar(30, 184.0)
    assert [(f.client_order_id, f.price) for f in collect(broker, 1)] == [("lmt", 189.0)]
    broker.submit_order(_bracket("mkt", OrderType.MARKET))
    bar(31, 184.0)
    fills = collect(broker, 3)
    assert [(f.client_order_id, f.price) for f in fills] == [
        ("lmt/sl", 185.0),
        ("mkt", 190.0),
        ("mkt/sl", 185.0),
    ]
