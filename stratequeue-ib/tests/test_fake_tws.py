"""The fake TWS against the real ib_async client (no StrateQueue code involved)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from ib_async import IB, ExecutionFilter, LimitOrder, MarketOrder, Stock
from stratequeue_ib.testing import FakeTWS


@pytest.fixture
def ib(tws: FakeTWS) -> Iterator[IB]:
    client = IB()
    client.connect(tws.host, tws.port, clientId=7, timeout=3, raiseSyncErrors=True)
    yield client
    client.disconnect()


def _reconnect(ib: IB, tws: FakeTWS) -> IB:
    ib.disconnect()
    fresh = IB()
    fresh.connect(tws.host, tws.port, clientId=7, timeout=3, raiseSyncErrors=True)
    return fresh


def test_connect_reports_accounts_positions_and_account_values(tws: FakeTWS, ib: IB) -> None:
    assert ib.managedAccounts() == ["DU123456"]
    assert ib.positions() == []
    values = {v.tag: v.value for v in ib.accountValues() if v.account == "DU123456"}
    assert values["NetLiquidation"] == "100000"
    summary = {v.tag: v.value for v in ib.accountSummary("DU123456")}
    assert summary["NetLiquidation"] == "100000"
    # the startup sync: positions, open and completed orders, account updates (single and
    # multi), executions; each answered, else ib_async waits out its timeout
    assert {61, 5, 99, 6, 76, 7} <= set(tws.received_ids())


def test_a_market_order_fills_with_its_commission_and_order_ref(tws: FakeTWS, ib: IB) -> None:
    trade = ib.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 5, orderRef="sq-1"))
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Filled"
    assert trade.order.permId > 0
    [fill] = trade.fills
    assert (fill.execution.orderRef, fill.execution.shares, fill.execution.price) == (
        "sq-1",
        5.0,
        190.0,
    )
    assert (fill.execution.cumQty, fill.commissionReport.commission) == (5.0, 1.0)
    ib.sleep(0.1)
    assert [(p.contract.symbol, p.position) for p in ib.positions()] == [("AAPL", 5.0)]
    assert tws.places("sq-1") == 1


def test_orders_and_executions_come_back_after_a_reconnect(tws: FakeTWS, ib: IB) -> None:
    aapl = Stock("AAPL", "SMART", "USD")
    done = ib.placeOrder(aapl, MarketOrder("BUY", 3, orderRef="sq-done"))
    working = ib.placeOrder(aapl, LimitOrder("BUY", 2, 150.0, orderRef="sq-open"))
    ib.sleep(0.3)
    ib = _reconnect(ib, tws)
    try:
        open_refs = {t.order.orderRef: t for t in ib.openTrades()}
        assert set(open_refs) == {"sq-open"}
        assert open_refs["sq-open"].order.orderId == working.order.orderId
        assert open_refs["sq-open"].order.permId == working.order.permId
        completed = {t.order.orderRef: t for t in ib.trades() if t.orderStatus.status == "Filled"}
        assert completed["sq-done"].order.permId == done.order.permId
        assert completed["sq-done"].order.filledQuantity == 3.0
        fills = ib.reqExecutions(ExecutionFilter(clientId=7, time="20000101-00:00:00"))
        assert [(f.execution.orderRef, f.execution.cumQty) for f in fills] == [("sq-done", 3.0)]
        # ib_async books a commission on the fill it saw first (here: the startup sync's)
        commissions = {f.execution.execId: f.commissionReport.commission for f in ib.fills()}
        assert commissions[fills[0].execution.execId] == 1.0
        # new order ids stay above every id TWS has seen
        assert ib.client.getReqId() > working.order.orderId
    finally:
        ib.disconnect()


def test_executions_are_filtered_by_time(tws: FakeTWS, ib: IB) -> None:
    ib.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 1, orderRef="sq-t"))
    ib.sleep(0.3)
    assert len(ib.reqExecutions(ExecutionFilter(time="20000101-00:00:00"))) == 1
    assert ib.reqExecutions(ExecutionFilter(time="29990101-00:00:00")) == []


def test_a_rejected_order_gets_the_error_code_and_text(tws: FakeTWS, ib: IB) -> None:
    tws.reject_next(201, "Order rejected - reason: no trading permissions")
    trade = ib.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 1, orderRef="sq-r"))
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Cancelled"
    assert [e.errorCode for e in trade.log if e.errorCode] == [201]
    assert "no trading permissions" in trade.log[-1].message


def test_held_orders_fill_when_a_price_reaches_them_in_parts(tws: FakeTWS, ib: IB) -> None:
    tws.configure(hold=True, partial_fills=2)
    aapl = Stock("AAPL", "SMART", "USD")
    market = ib.placeOrder(aapl, MarketOrder("BUY", 4, orderRef="sq-m"))
    limit = ib.placeOrder(aapl, LimitOrder("BUY", 5, 180.0, orderRef="sq-l"))
    ib.sleep(0.3)
    assert market.fills == [] and limit.fills == []
    tws.set_price("AAPL", 179.5)
    ib.sleep(0.3)
    assert [f.execution.cumQty for f in market.fills] == [2.0, 4.0]
    assert [(f.execution.shares, f.execution.price) for f in limit.fills] == [
        (2.0, 179.5),
        (3.0, 179.5),
    ]


def test_a_dropped_connection_is_seen_by_the_client(tws: FakeTWS, ib: IB) -> None:
    tws.drop_connections()
    with pytest.raises(ConnectionError):
        ib.sleep(0.5)
    assert not ib.isConnected()
    assert tws.sessions() == 0


def test_cancel_and_modify(tws: FakeTWS, ib: IB) -> None:
    aapl = Stock("AAPL", "SMART", "USD")
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 2, 150.0, orderRef="sq-c"))
    ib.sleep(0.2)
    trade.order.lmtPrice = 190.0
    ib.placeOrder(aapl, trade.order)  # the same orderId: a modify
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Filled"
    other = ib.placeOrder(aapl, LimitOrder("BUY", 2, 150.0, orderRef="sq-x"))
    ib.sleep(0.2)
    ib.cancelOrder(other.order)
    ib.sleep(0.3)
    assert other.orderStatus.status == "Cancelled"


def test_runs_by_hand_and_prints_its_address() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stratequeue_ib.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        host, _, port = proc.stdout.readline().strip().partition(":")
        assert host == "127.0.0.1" and int(port) > 0
        client = IB()
        client.connect(host, int(port), clientId=1, timeout=3)
        assert client.managedAccounts() == ["DU123456"]
        client.disconnect()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
