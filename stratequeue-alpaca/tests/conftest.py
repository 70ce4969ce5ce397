"""Fixtures: a fake Alpaca on 127.0.0.1 and a broker connected to it through the real alpaca-py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from stratequeue.brokers.base import BrokerConfig
from stratequeue_alpaca import AlpacaBroker
from stratequeue_alpaca.testing import FakeAlpaca

FAST = {"retry_backoff": 0.01, "timeout": 2.0, "stream_wait": 5.0}


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as server:
        server.exchange.set_price("AAPL", 190.0)
        server.exchange.set_price("GME", 20.0)
        server.exchange.set_price("BTC/USD", 65_000.0)
        yield server


def make_broker(fake: FakeAlpaca, paper: bool = True, **params: object) -> AlpacaBroker:
    config = BrokerConfig(
        "alpaca",
        paper_trading=paper,
        credentials=fake.env(paper),
        additional_params={**FAST, **params},
    )
    return AlpacaBroker(config)


@pytest.fixture
def broker(fake: FakeAlpaca) -> Iterator[AlpacaBroker]:
    b = make_broker(fake)
    assert b.connect()
    wait_for(lambda: fake.trade_listeners == 1)
    yield b
    b.disconnect()
