from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stratequeue.brokers.base import BrokerConfig
from stratequeue_coinbase import CoinbaseBroker
from stratequeue_coinbase.testing import FakeCoinbase
from stratequeue_coinbase.testing.harness import fast_params


@pytest.fixture(autouse=True)
def _home(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker's journal of edits goes to a test's own StrateQueue home."""
    monkeypatch.setenv("STRATEQUEUE_HOME", str(tmp_path / "home"))


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.exchange.set_price("BTC-USD", 60_000.0)
        yield server


def make_broker(
    fake: FakeCoinbase, env: dict[str, str] | None = None, **params: Any
) -> CoinbaseBroker:
    config = BrokerConfig(
        "coinbase",
        paper_trading=False,
        credentials=env if env is not None else fake.env(),
        additional_params=fast_params(**params),
    )
    return CoinbaseBroker(config)


@pytest.fixture
def broker(fake: FakeCoinbase) -> Iterator[CoinbaseBroker]:
    made = make_broker(fake)
    made.connect()
    yield made
    made.disconnect()


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not within the timeout")
        time.sleep(0.02)
