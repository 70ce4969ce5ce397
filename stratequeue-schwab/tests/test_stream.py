"""The ACCT_ACTIVITY stream triggers a poll at once (polls are otherwise a minute apart here);
after a drop it logs in again and catches up with what happened meanwhile, each fill once."""

from __future__ import annotations

import time
from collections.abc import Callable

from stratequeue.models import BrokerOrder, Fill, OrderType, Side
from stratequeue_schwab.testing import FakeSchwab
from stratequeue_schwab.testing.harness import SchwabHarness


def _until(what: str, check: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
        time.sleep(0.02)


def _limit(cid: str) -> BrokerOrder:
    return BrokerOrder(cid, "AAPL", Side.BUY, 2, OrderType.LIMIT, limit_price=180.0)


def _collect(h: SchwabHarness, cid: str) -> list[Fill]:
    got: list[Fill] = []

    def done() -> bool:
        got.extend(h.broker.poll_fills())
        return sum(f.qty for f in got if f.client_order_id == cid) >= 2

    _until(f"the fill of {cid}", done)
    time.sleep(0.3)
    got.extend(h.broker.poll_fills())
    return got


def test_streamed_activity_makes_the_next_poll_list_at_once(fake: FakeSchwab, tmp_path) -> None:
    h = SchwabHarness(fake, tmp_path, poll_interval=60.0)
    _until("the stream subscribed", lambda: fake.sockets)
    h.broker.submit_order(_limit("st-1"))
    h.broker.poll_fills()  # the minute starts now
    h.fill("st-1")
    fills = _collect(h, "st-1")
    assert [(f.client_order_id, f.qty) for f in fills] == [("st-1", 2)]
    h.close()


def test_a_dropped_stream_logs_in_again_and_catches_up(fake: FakeSchwab, tmp_path) -> None:
    h = SchwabHarness(fake, tmp_path, poll_interval=60.0)
    _until("the stream subscribed", lambda: fake.sockets)
    h.broker.submit_order(_limit("st-2"))
    h.broker.poll_fills()
    fake.drop_streams()
    h.fill("st-2")  # nobody is subscribed: the fill is not streamed
    fills = _collect(h, "st-2")
    assert [(f.client_order_id, f.qty) for f in fills] == [("st-2", 2)]
    assert fake.stream_logins == 2
    h.close()
