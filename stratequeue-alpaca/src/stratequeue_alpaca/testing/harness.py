"""The conformance-kit harness for the Alpaca broker: the real alpaca-py against the fake.

The broker polls at every ``poll_fills`` (``reconcile_interval=0``) besides listening to the
trade_updates stream, so every execution is reported by both (the stream's execution id, the
FILL activity's id) and the kit checks it is delivered once.
"""

from __future__ import annotations

from typing import Any

from stratequeue.brokers.base import BrokerConfig
from stratequeue.models import BrokerOrder, Side
from stratequeue.testing.harness import FaultKind, Reconnecting

from ..broker import AlpacaBroker
from . import FakeAlpaca

__all__ = ["AlpacaHarness"]

_FAULT_ROUTES: dict[str, tuple[str, str]] = {
    "submit": ("POST", "/v2/orders"),
    "lookup": ("GET", "/v2/orders:by_client_order_id"),
    "positions": ("GET", "/v2/positions"),
}
_PARAMS = {"timeout": 2.0, "retry_backoff": 0.01, "stream_wait": 5.0, "reconcile_interval": 0.0}


class AlpacaHarness(Reconnecting[AlpacaBroker]):
    def __init__(
        self, fake: FakeAlpaca, symbol: str = "AAPL", price: float = 190.0, **params: Any
    ) -> None:
        self.fake = fake
        self.symbol = symbol
        self.price = price
        self._params = {**_PARAMS, **params}
        fake.exchange.set_price(symbol, price)
        self.broker = self._connect()

    def _connect(self) -> AlpacaBroker:
        config = BrokerConfig("alpaca", credentials=self.fake.env(), additional_params=self._params)
        broker = AlpacaBroker(config)
        if not broker.connect():
            raise RuntimeError(
                f"the Alpaca broker could not connect to the fake at {self.fake.url}"
            )
        return broker

    def set_price(self, symbol: str, price: float) -> None:
        self.fake.exchange.set_price(symbol, price)

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        self.fake.fill(client_order_id, qty, price)

    def posts(self, client_order_id: str) -> int:
        return self.fake.posts(client_order_id)

    def fail_next(
        self, kind: FaultKind, status: int, times: int = 1, *, after: bool = False
    ) -> None:
        method, path = _FAULT_ROUTES[kind]
        self.fake.fail(method, path, status, times=times, after=after)

    def drop_connection(self) -> None:
        self.fake.drop_streams()

    def refused_order(self, client_order_id: str) -> tuple[BrokerOrder, str]:
        return (
            BrokerOrder(client_order_id, self.symbol, Side.BUY, 10_000_000),
            "insufficient buying power",
        )
