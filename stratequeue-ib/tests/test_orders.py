"""What the IB broker puts on the wire for each kind of order, and what it refuses first."""

from __future__ import annotations

import logging
import time

import pytest
from conftest import make_broker
from stratequeue.errors import BrokerError
from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side
from stratequeue_ib import IBBroker
from stratequeue_ib.contracts import contract_for, symbol_of
from stratequeue_ib.testing import FakeTWS


def _placed(tws: FakeTWS) -> list[dict[str, str]]:
    """placeOrder messages as the fake received them: the fields a test looks at."""
    names = {
        1: "id",
        3: "symbol",
        4: "secType",
        16: "action",
        17: "qty",
        18: "type",
        19: "lmt",
        20: "aux",
        22: "oca",
        26: "ref",
        27: "transmit",
        28: "parent",
    }
    return [{n: r.fields[i] for i, n in names.items()} for r in tws.log if r.fields[0] == "3"]


def test_a_bracket_is_parent_take_profit_and_stop_transmitted_by_the_last(
    tws: FakeTWS, broker: IBBroker
) -> None:
    order = BrokerOrder(
        "brk", "AAPL", Side.BUY, 3, take_profit=200.0, stop_loss=180.0, order_class="bracket"
    )
    assert broker.submit_order(order).status is OrderStatus.FILLED
    parent, tp, sl = _placed(tws)
    assert (parent["ref"], parent["type"], parent["action"], parent["transmit"]) == (
        "brk",
        "MKT",
        "BUY",
        "0",
    )
    assert (tp["ref"], tp["type"], tp["lmt"], tp["action"], tp["parent"], tp["transmit"]) == (
        "brk/tp",
        "LMT",
        "200.0",
        "SELL",
        parent["id"],
        "0",
    )
    assert (sl["ref"], sl["type"], sl["aux"], sl["parent"], sl["transmit"]) == (
        "brk/sl",
        "STP",
        "180.0",
        parent["id"],
        "1",
    )
    assert {o.client_order_id for o in broker.get_open_orders()} == {"brk"}  # its legs work


def test_an_oco_exit_is_two_orders_in_one_oca_group(tws: FakeTWS, broker: IBBroker) -> None:
    broker.submit_order(BrokerOrder("own", "AAPL", Side.BUY, 2))
    oco = BrokerOrder(
        "oco",
        "AAPL",
        Side.SELL,
        2,
        OrderType.LIMIT,
        limit_price=200.0,
        take_profit=200.0,
        stop_loss=180.0,
        order_class="oco",
    )
    ack = broker.submit_order(oco)
    assert ack.status is OrderStatus.ACCEPTED and ack.broker_order_id
    tp, sl = _placed(tws)[1:]
    assert (tp["ref"], tp["type"], sl["ref"], sl["type"]) == ("oco/tp", "LMT", "oco/sl", "STP")
    assert tp["oca"] == sl["oca"] != "" and tp["transmit"] == sl["transmit"] == "1"
    assert [o.client_order_id for o in broker.get_open_orders()] == ["oco"]
    assert broker.cancel_order("oco").status is OrderStatus.CANCELED
    assert broker.get_open_orders() == []


def test_fractional_quantities_are_refused_before_anything_is_sent(
    tws: FakeTWS, broker: IBBroker
) -> None:
    ack = broker.submit_order(BrokerOrder("frac", "AAPL", Side.BUY, 0.5))
    assert ack.status is OrderStatus.REJECTED and "whole shares" in ack.message
    assert tws.places("frac") == 0


def test_symbols_map_to_contracts_and_back() -> None:
    stock, fx, fut = (
        contract_for("AAPL"),
        contract_for("FX:EURUSD"),
        contract_for("FUT:ES:202512:CME"),
    )
    assert (stock.secType, stock.symbol, stock.exchange, stock.currency) == (
        "STK",
        "AAPL",
        "SMART",
        "USD",
    )
    assert (fx.secType, fx.symbol, fx.currency, fx.exchange) == ("CASH", "EUR", "USD", "IDEALPRO")
    assert (fut.secType, fut.symbol, fut.lastTradeDateOrContractMonth, fut.exchange) == (
        "FUT",
        "ES",
        "202512",
        "CME",
    )
    assert [symbol_of(c) for c in (stock, fx, fut)] == ["AAPL", "FX:EURUSD", "FUT:ES:202512:CME"]
    with pytest.raises(BrokerError, match="FX:EURUSD"):
        contract_for("FX:EUR")


def test_a_currency_pair_trades_as_cash_on_idealpro(tws: FakeTWS, broker: IBBroker) -> None:
    tws.set_price("EUR", 1.08)
    ack = broker.submit_order(BrokerOrder("fx", "FX:EURUSD", Side.BUY, 20000))
    assert ack.status is OrderStatus.FILLED
    [sent] = _placed(tws)
    assert (sent["symbol"], sent["secType"]) == ("EUR", "CASH")
    assert ("FX:EURUSD", 20000) in [(p.symbol, p.qty) for p in broker.get_positions()]


def test_orders_stay_under_fifty_messages_a_second(tws: FakeTWS) -> None:
    broker = make_broker(tws)
    assert broker.connect()
    try:
        for n in range(70):
            broker.submit_order(
                BrokerOrder(
                    f"pace-{n}",
                    "AAPL",
                    Side.BUY,
                    1,
                    OrderType.LIMIT,
                    limit_price=100.0,
                    time_in_force="gtc",
                )
            )
    finally:
        broker.disconnect()
    times = [r.at for r in tws.log]
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 50, f"{busiest} messages within one second"


def test_a_bracket_leg_is_replaced_in_place_and_fills_under_its_name(
    tws: FakeTWS, broker: IBBroker
) -> None:
    order = BrokerOrder(
        "brk2", "AAPL", Side.BUY, 2, take_profit=200.0, stop_loss=180.0, order_class="bracket"
    )
    broker.submit_order(order)
    ack = broker.replace_order("brk2/sl", "unused", stop_price=185.0)
    assert (ack.client_order_id, ack.status) == ("brk2/sl", OrderStatus.ACCEPTED)
    sl = tws.exchange.order_by_ref("brk2/sl")
    assert sl is not None and sl.aux == 185.0
    assert tws.places("brk2/sl") == 2  # the same order id again: a modify, not a new order
    tws.set_price("AAPL", 184.0)
    fills = []
    for _ in range(100):
        fills += broker.poll_fills()
        if any(f.client_order_id == "brk2/sl" for f in fills):
            break
        time.sleep(0.02)
    assert [
        (f.client_order_id, f.side, f.qty) for f in fills if f.client_order_id == "brk2/sl"
    ] == [("brk2/sl", Side.SELL, 2)]
    tp = broker.get_order("brk2/tp")
    assert tp is not None and tp.status is OrderStatus.CANCELED


def test_a_confirmed_cancel_is_not_logged_as_an_error(tws: FakeTWS, broker: IBBroker) -> None:
    errors: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    wrapper_log = logging.getLogger("ib_async.wrapper")
    handler = Catch()
    wrapper_log.addHandler(handler)
    try:
        broker.submit_order(
            BrokerOrder("cx", "AAPL", Side.BUY, 1, OrderType.LIMIT, limit_price=150.0)
        )
        assert broker.cancel_order("cx").status is OrderStatus.CANCELED
    finally:
        wrapper_log.removeHandler(handler)
    assert errors == []
