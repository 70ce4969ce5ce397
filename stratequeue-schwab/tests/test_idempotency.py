"""Schwab takes no client order id: a POST whose outcome is unknown is resolved by listing the
account's orders entered since the intent, never by sending it blindly again. POSTs are counted
at the fake."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from stratequeue.models import BrokerOrder, OrderStatus, OrderType, Side
from stratequeue_schwab.orders import spec_of
from stratequeue_schwab.testing import FakeSchwab
from stratequeue_schwab.testing.harness import SchwabHarness

ORDER = BrokerOrder(
    "sq-1", "AAPL", Side.BUY, 3, OrderType.LIMIT, limit_price=180.0, time_in_force="gtc"
)


def _posts(fake: FakeSchwab) -> int:
    return len(fake.order_posts)


def test_a_post_that_timed_out_after_it_was_accepted_is_adopted_after_a_restart(
    fake: FakeSchwab, tmp_path
) -> None:
    h = SchwabHarness(fake, tmp_path, timeout=0.5)
    fake.hang_next_post(1.0)  # placed at the fake, answered after the client gave up
    fake.fail("lookup", 503, times=1_000)  # and the listing fails too: the outcome stays open
    first = h.broker.submit_order(ORDER)
    assert first.status is OrderStatus.UNKNOWN, first
    assert "not sent again" in first.message
    assert _posts(fake) == 1
    placed = list(fake.exchange.orders)
    assert len(placed) == 1

    fake.faults.clear()
    fresh = h.connect_new()  # the process restarted; the core sends its open intent again
    again = fresh.submit_order(ORDER)
    assert (again.status, again.broker_order_id) == (OrderStatus.ACCEPTED, str(placed[0]))
    assert _posts(fake) == 1, "the order whose answer was lost was sent a second time"
    found = fresh.get_order("sq-1")
    assert found is not None and found.broker_order_id == str(placed[0])
    h.close()


def test_a_timeout_is_resolved_in_the_same_run_by_the_listing(harness: SchwabHarness) -> None:
    fake = harness.fake
    broker = harness.broker
    broker.client.set_timeout(0.5)
    fake.hang_next_post(1.0)
    ack = broker.submit_order(ORDER)
    assert ack.status is OrderStatus.ACCEPTED and ack.broker_order_id == "1001", ack
    assert _posts(fake) == 1


def test_an_order_the_listing_proves_absent_is_sent_again(harness: SchwabHarness) -> None:
    fake = harness.fake
    fake.fail("submit", 500)  # refused before anything was placed
    ack = harness.broker.submit_order(ORDER)
    assert ack.status is OrderStatus.ACCEPTED, ack
    assert _posts(fake) == 2
    with fake._lock:
        sequence = [
            r.split("?")[0].split(" ")[0] + " " + r.split("?")[0].rsplit("/", 1)[-1]
            for r in fake.requests
        ]
    first_post = sequence.index("POST orders")
    second_post = sequence.index("POST orders", first_post + 1)
    assert "GET orders" in sequence[first_post:second_post], sequence


def test_an_ambiguous_match_is_unknown_names_the_orders_and_sends_nothing_more(
    harness: SchwabHarness, caplog
) -> None:
    fake = harness.fake
    twins = [fake.exchange.place(spec_of(ORDER), datetime.now(UTC)) for _ in range(2)]
    fake.fail("submit", 503)  # not placed, but the answer cannot say so
    with caplog.at_level(logging.ERROR, logger="stratequeue_schwab"):
        ack = harness.broker.submit_order(ORDER)
    assert ack.status is OrderStatus.UNKNOWN, ack
    assert all(str(t) in ack.message for t in twins), ack.message
    assert _posts(fake) == 1
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and all(str(t) in lines[0] for t in twins), lines
    # asked again later (a poll, a restart): still unknown, still not sent
    later = harness.broker.submit_order(ORDER)
    assert later.status is OrderStatus.UNKNOWN and _posts(fake) == 1


def test_a_refusal_is_final_and_carries_schwabs_message(harness: SchwabHarness) -> None:
    big = BrokerOrder("sq-big", "AAPL", Side.BUY, 10_000_000)
    ack = harness.broker.submit_order(big)
    assert ack.status is OrderStatus.REJECTED
    assert "enough available cash" in ack.message
    assert harness.broker.submit_order(big).status is OrderStatus.REJECTED
    assert _posts(harness.fake) == 1


def test_polls_list_only_while_an_order_is_still_to_watch(harness: SchwabHarness) -> None:
    fake, broker = harness.fake, harness.broker
    broker.submit_order(BrokerOrder("sq-done", "AAPL", Side.BUY, 1))
    fake.exchange.set_price("AAPL", 190.0)
    assert [f.client_order_id for f in broker.poll_fills()] == ["sq-done"]

    def listings() -> int:
        return sum(1 for r in fake.requests if r.startswith("GET") and "/orders?" in r)

    before = listings()
    assert broker.poll_fills() == []
    assert listings() == before, "a filled order was listed again"
    broker.submit_order(ORDER)  # a working limit: watched until final
    broker.poll_fills()
    broker.poll_fills()
    assert listings() == before + 2


def test_a_location_naming_another_order_is_not_believed(harness: SchwabHarness) -> None:
    fake, broker = harness.fake, harness.broker
    first = broker.submit_order(
        BrokerOrder("sq-a", "AAPL", Side.BUY, 1, OrderType.LIMIT, limit_price=170.0)
    )
    fake.wrong_location = int(first.broker_order_id)  # the next answer names sq-a's order
    ack = broker.submit_order(ORDER)
    assert ack.status is OrderStatus.ACCEPTED, ack
    assert ack.broker_order_id not in ("", first.broker_order_id)
    assert fake.exchange.order_json(int(ack.broker_order_id))["price"] == 180.0
    assert _posts(fake) == 2, "the order was sent again"
    again = broker.get_order("sq-a")
    assert again is not None and again.broker_order_id == first.broker_order_id
