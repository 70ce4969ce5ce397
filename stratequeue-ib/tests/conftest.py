"""Fixtures: a fake TWS on 127.0.0.1 (the real ib_async connects to it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from stratequeue.brokers.base import BrokerConfig
from stratequeue_ib import IBBroker
from stratequeue_ib.testing import FakeTWS
from stratequeue_ib.testing.harness import fast_params


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


def ib_env(tws: FakeTWS, account: str = "DU123456", client_id: int = 1) -> dict[str, str]:
    return {
        "IB_HOST": tws.host,
        "IB_PORT": str(tws.port),
        "IB_CLIENT_ID": str(client_id),
        "IB_ACCOUNT": account,
    }


def make_broker(
    tws: FakeTWS, paper: bool = True, account: str = "DU123456", **params: object
) -> IBBroker:
    config = BrokerConfig(
        "ib",
        paper_trading=paper,
        credentials=ib_env(tws, account),
        additional_params=fast_params(**params),
    )
    return IBBroker(config)


@pytest.fixture
def broker(tws: FakeTWS) -> Iterator[IBBroker]:
    b = make_broker(tws)
    assert b.connect()
    yield b
    b.disconnect()
