"""IB does not de-duplicate orderRef: a restart resending its orders must place none twice
(counted at the fake's wire, per orderRef)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from conftest import ib_env, make_broker, wait_for
from stratequeue.brokers.base import BrokerConfig
from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side
from stratequeue_ib import IBBroker
from stratequeue_ib.testing import FakeTWS
from stratequeue_ib.testing.harness import fast_params

_ORDERS = [
    BrokerOrder("rs-filled", "AAPL", Side.BUY, 2),
    BrokerOrder(
        "rs-open", "AAPL", Side.BUY, 1, OrderType.LIMIT, limit_price=150.0, time_in_force="gtc"
    ),
    BrokerOrder(
        "rs-brk",
        "AAPL",
        Side.BUY,
        1,
        take_profit=200.0,
        stop_loss=180.0,
        order_class="bracket",
        time_in_force="gtc",
    ),
    BrokerOrder("rs-refused", "AAPL", Side.BUY, 10_000_000),
]


def test_a_restart_resending_its_orders_places_none_twice(tws: FakeTWS) -> None:
    first = make_broker(tws)
    assert first.connect()
    before = {o.client_order_id: first.submit_order(o) for o in _ORDERS}
    first.disconnect()
    second = make_broker(tws)
    assert second.connect()
    try:
        after = {o.client_order_id: second.submit_order(o) for o in _ORDERS}
    finally:
        second.disconnect()
    for ref in [*before, "rs-brk/tp", "rs-brk/sl"]:
        assert tws.places(ref) == 1, f"{ref} placed {tws.places(ref)} times"
    for cid in ("rs-filled", "rs-open", "rs-brk"):  # the refused one never got TWS's permId
        assert after[cid].broker_order_id == before[cid].broker_order_id
    assert before["rs-filled"].status is OrderStatus.FILLED
    assert (after["rs-filled"].status, after["rs-filled"].filled_qty) == (OrderStatus.FILLED, 2)
    assert after["rs-open"].status is OrderStatus.ACCEPTED
    assert after["rs-brk"].status is OrderStatus.FILLED
    assert before["rs-refused"].status is OrderStatus.REJECTED
    assert not after["rs-refused"].status.is_open


_CHILD = """
import sys, time
from stratequeue.brokers.base import BrokerConfig
from stratequeue.brokers.base import BrokerConfig
from stratequeue.models import BrokerOrder, OrderType, Side
from stratequeue_ib import IBBroker
from stratequeue_ib.testing.harness import fast_params
env = dict(arg.split("=", 1) for arg in sys.argv[1:])
broker = IBBroker(BrokerConfig("ib", credentials=env, additional_params=fast_params()))
assert broker.connect()
broker.submit_order(BrokerOrder("kill-filled", "AAPL", Side.BUY, 3))
broker.submit_order(
    BrokerOrder("kill-open", "AAPL", Side.BUY, 1, OrderType.LIMIT, limit_price=150.0, time_in_force="gtc")
)
print("sent", flush=True)
time.sleep(60)
"""


def test_a_sigkilled_run_restarted_resends_nothing_and_sees_its_fill(tws: FakeTWS) -> None:
    args = [f"{k}={v}" for k, v in ib_env(tws).items()]
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "sent"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    wait_for(lambda: tws.sessions() == 0)
    broker = make_broker(tws)
    assert broker.connect()
    try:
        filled = broker.submit_order(BrokerOrder("kill-filled", "AAPL", Side.BUY, 3))
        working = broker.submit_order(
            BrokerOrder(
                "kill-open",
                "AAPL",
                Side.BUY,
                1,
                OrderType.LIMIT,
                limit_price=150.0,
                time_in_force="gtc",
            )
        )
        executions = [(f.client_order_id, f.qty, f.cum_qty) for f in broker.get_executions()]
        # executions from before the restart come through get_executions (reconciliation),
        # never again as new fills
        late = broker.poll_fills()
        positions = [(p.symbol, p.qty) for p in broker.get_positions()]
        cash = broker.get_account_info().cash
    finally:
        broker.disconnect()
    assert (tws.places("kill-filled"), tws.places("kill-open")) == (1, 1)
    assert (filled.status, filled.filled_qty) == (OrderStatus.FILLED, 3)
    assert working.status is OrderStatus.ACCEPTED
    assert executions == [("kill-filled", 3, 3)]
    assert late == []
    assert positions == [("AAPL", 3)]
    assert cash == round(tws.exchange.cash, 2)


def test_a_restart_under_another_client_id_still_finds_its_open_order(tws: FakeTWS) -> None:
    order = BrokerOrder(
        "cl-open", "AAPL", Side.BUY, 1, OrderType.LIMIT, limit_price=150.0, time_in_force="gtc"
    )
    first = make_broker(tws)
    assert first.connect()
    placed = first.submit_order(order)
    first.disconnect()
    other = IBBroker(
        BrokerConfig("ib", credentials=ib_env(tws, client_id=9), additional_params=fast_params())
    )
    assert other.connect()
    try:
        again = other.submit_order(order)
    finally:
        other.disconnect()
    assert tws.places("cl-open") == 1
    assert (again.broker_order_id, again.status) == (placed.broker_order_id, OrderStatus.ACCEPTED)
