"""Replace through Coinbase's edit: the new client order id survives a restart, fills come
under it once, and orders Coinbase cannot edit are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_broker, wait_for
from stratequeue.models import BrokerOrder, Fill, OrderStatus, OrderType, Side
from stratequeue_coinbase import CoinbaseBroker
from stratequeue_coinbase.testing import FakeCoinbase

EDIT = "/api/v3/brokerage/orders/edit"


def _limit(cid: str, price: float, qty: float = 0.02) -> BrokerOrder:
    return BrokerOrder(cid, "BTC-USD", Side.BUY, qty, OrderType.LIMIT, price, time_in_force="gtc")


def _restart(fake: FakeCoinbase, broker: CoinbaseBroker) -> CoinbaseBroker:
    broker.disconnect()
    fresh = make_broker(fake)
    fresh.connect()
    return fresh


def test_a_replaced_order_is_found_under_its_new_id_after_a_restart_and_fills_once(
    fake: FakeCoinbase, broker: CoinbaseBroker, tmp_path: Path
) -> None:
    placed = broker.submit_order(_limit("ed-1", 50_000.0))
    journal = tmp_path / "home" / "coinbase-edits.sqlite"  # STRATEQUEUE_HOME (conftest)
    assert not journal.exists()  # made at the first edit, not by every run
    ack = broker.replace_order("ed-1", "ed-1~2", limit_price=55_000.0)
    assert (ack.client_order_id, ack.status) == ("ed-1~2", OrderStatus.ACCEPTED)
    assert ack.broker_order_id == placed.broker_order_id
    assert fake.exchange.get(placed.broker_order_id)["client_order_id"] == "ed-1"  # Coinbase's
    assert journal.exists()

    fresh = _restart(fake, broker)
    found = fresh.get_order("ed-1~2")
    assert found is not None
    assert (found.broker_order_id, found.status) == (placed.broker_order_id, OrderStatus.ACCEPTED)
    old = fresh.get_order("ed-1")
    assert old is not None and old.status is OrderStatus.CANCELED and "ed-1~2" in old.message
    again = fresh.submit_order(_limit("ed-1~2", 55_000.0))  # the core resending: nothing sent
    assert again.broker_order_id == placed.broker_order_id
    assert fresh.submit_order(_limit("ed-1", 50_000.0)).status is OrderStatus.CANCELED
    assert fake.exchange.posts["ed-1~2"] == 0 and fake.exchange.posts["ed-1"] == 1
    assert [o.client_order_id for o in fresh.get_open_orders()] == ["ed-1~2"]

    fake.exchange.set_price("BTC-USD", 55_000.0)
    fills: list[Fill] = wait_for(fresh.poll_fills)
    for _ in range(3):
        fills += fresh.poll_fills()
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("ed-1~2", 0.02, 55_000.0)]
    assert [f.client_order_id for f in fresh.get_executions()] == ["ed-1~2"]
    done = fresh.get_order("ed-1~2")
    assert done is not None and done.status is OrderStatus.FILLED
    fresh.disconnect()


def test_cancel_answers_under_the_new_id(fake: FakeCoinbase, broker: CoinbaseBroker) -> None:
    placed = broker.submit_order(_limit("ed-c", 50_000.0))
    broker.replace_order("ed-c", "ed-c~2", limit_price=51_000.0)
    assert broker.cancel_order("ed-c").status is OrderStatus.CANCELED  # already replaced
    assert fake.exchange.get(placed.broker_order_id)["status"] == "OPEN"
    ack = broker.cancel_order("ed-c~2")
    assert (ack.client_order_id, ack.status) == ("ed-c~2", OrderStatus.CANCELED)
    assert fake.exchange.get(placed.broker_order_id)["status"] == "CANCELLED"


def test_a_lost_edit_answer_is_settled_by_a_lookup_after_a_restart(
    fake: FakeCoinbase, broker: CoinbaseBroker
) -> None:
    placed = broker.submit_order(_limit("ed-l", 50_000.0))
    fake.fail("POST", EDIT, 503, times=broker.retries + 1, after=True)  # edited, answer lost
    ack = broker.replace_order("ed-l", "ed-l~2", limit_price=52_000.0)
    assert ack.status is OrderStatus.UNKNOWN
    fresh = _restart(fake, broker)
    found = fresh.get_order("ed-l~2")
    assert found is not None and found.broker_order_id == placed.broker_order_id
    assert [o.client_order_id for o in fresh.get_open_orders()] == ["ed-l~2"]
    fresh.disconnect()


def test_an_edit_that_never_landed_is_not_an_order(
    fake: FakeCoinbase, broker: CoinbaseBroker
) -> None:
    broker.submit_order(_limit("ed-n", 50_000.0))
    fake.fail("POST", EDIT, 503, times=broker.retries + 1)  # refused before editing
    assert broker.replace_order("ed-n", "ed-n~2", limit_price=52_000.0).status is (
        OrderStatus.UNKNOWN
    )
    assert broker.get_order("ed-n~2") is None
    assert [o.client_order_id for o in broker.get_open_orders()] == ["ed-n"]


def test_orders_coinbase_cannot_edit_are_refused(
    fake: FakeCoinbase, broker: CoinbaseBroker
) -> None:
    stop_limit = BrokerOrder(
        "ed-sl", "BTC-USD", Side.BUY, 0.01, OrderType.STOP_LIMIT, 70_100.0, 70_000.0, None, "gtc"
    )
    assert broker.submit_order(stop_limit).status is OrderStatus.ACCEPTED
    with pytest.raises(NotImplementedError, match="only GTC limit orders"):
        broker.replace_order("ed-sl", "ed-sl~2", limit_price=71_000.0)
    broker.submit_order(_limit("ed-s", 50_000.0))
    with pytest.raises(NotImplementedError, match="only a limit price"):
        broker.replace_order("ed-s", "ed-s~2", stop_price=49_000.0)
    fake.exchange.fill("ed-s", 0.01)
    with pytest.raises(NotImplementedError, match="partly filled"):
        broker.replace_order("ed-s", "ed-s~2", limit_price=51_000.0)
    fake.exchange.set_price("BTC-USD", 50_000.0)
    wait_for(lambda: broker.get_order("ed-s").status is OrderStatus.FILLED)  # type: ignore[union-attr]
    refused = broker.replace_order("ed-s", "ed-s~3", limit_price=51_000.0)
    assert refused.status is OrderStatus.REJECTED and "FILLED" in refused.message
