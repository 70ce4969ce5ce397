"""Fixtures: a fake TWS on 127.0.0.1 (the real ib_async connects to it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from stratequeue_ib.testing import FakeTWS


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def tws() -> Iterator[FakeTWS]:
    with FakeTWS(accounts=("DU123456",)) as fake:
        fake.set_price("AAPL", 190.0)
        yield fake
