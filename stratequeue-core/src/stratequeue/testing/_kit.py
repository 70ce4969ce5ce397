"""What the conformance cases share: waiting for fills, skipping by capability."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pytest

from ..brokers.base import BaseBroker, Capability, OrderAck
from ..models import BrokerOrder, Fill, OrderStatus, OrderType, Side
from .harness import BrokerHarness

#: how long a case waits for an execution to be reported, and then for any duplicate of it
WAIT = 5.0
SETTLE = 0.5


def require(harness: BrokerHarness, *needed: Capability) -> None:
    """Skip the calling case, by name, unless the broker declares every capability."""
    broker = harness.broker
    missing = [c for c in needed if c not in broker.capabilities]
    if missing:
        names = ", ".join(f"Capability.{c.name}" for c in missing)
        case = sys._getframe(1).f_code.co_name
        pytest.skip(f"{broker.name or type(broker).__name__}: no {names} ({case})")


# -- helpers --------------------------------------------------------------------------------
def _cents(value: float) -> float:
    return round(value, 2)


def _wait(what: str, predicate: Callable[[], object], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)


def _fills(broker: BaseBroker, cid: str, qty: float) -> list[Fill]:
    """The fills of ``cid`` (and of its legs ``cid/..``) until ``qty`` is reported, then any
    that come within :data:`SETTLE` seconds more (there should be none)."""
    got: list[Fill] = []

    def ours() -> float:
        got.extend(broker.poll_fills())
        return sum(f.qty for f in got if f.client_order_id.split("/")[0] == cid)

    _wait(f"fills of {qty:g} for {cid}", lambda: ours() >= qty - 1e-9)
    end = time.monotonic() + SETTLE
    while time.monotonic() < end:
        ours()
        time.sleep(0.02)
    return [f for f in got if f.client_order_id.split("/")[0] == cid]


def _no_fills(broker: BaseBroker, cid: str) -> None:
    time.sleep(SETTLE)
    late = [f for f in broker.poll_fills() if f.client_order_id.split("/")[0] == cid]
    assert late == [], f"{cid} filled when it should not have: {late}"


def _status(broker: BaseBroker, cid: str) -> OrderStatus:
    ack = broker.get_order(cid)
    assert ack is not None, f"the broker does not know order {cid}"
    return ack.status


def _held(broker: BaseBroker, symbol: str) -> float:
    return sum(p.qty for p in broker.get_positions() if p.symbol == symbol)


def _limit(h: BrokerHarness, cid: str, side: Side, qty: float, at: float) -> BrokerOrder:
    return BrokerOrder(
        cid, h.symbol, side, qty, OrderType.LIMIT, limit_price=_cents(at), time_in_force="gtc"
    )


def _placed(ack: OrderAck, cid: str) -> None:
    assert ack.client_order_id == cid
    assert ack.status not in (OrderStatus.REJECTED, OrderStatus.PENDING, OrderStatus.UNKNOWN), (
        f"{cid}: {ack.status} {ack.message}"
    )
    assert ack.broker_order_id, f"{cid}: no broker order id in {ack}"


def _assert_once(fills: list[Fill], cid: str, qty: float) -> None:
    """Each execution once: quantities add up, ids and cumulative quantities never repeat."""
    assert sum(f.qty for f in fills) == qty, f"{cid}: {qty:g} expected in {fills}"
    ids = [f.execution_id for f in fills]
    assert all(ids) and len(set(ids)) == len(ids), f"execution ids of {cid}: {ids}"
    by_order: dict[str, list[float]] = {}
    for f in fills:
        by_order.setdefault(f.client_order_id, []).append(f.cum_qty or 0.0)
    for name, cums in by_order.items():
        assert all(c > 0 for c in cums), f"{name}: fills without cum_qty: {fills}"
        assert cums == sorted(set(cums)), f"{name}: cumulative quantities {cums} repeat"
