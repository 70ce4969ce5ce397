"""The broker conformance kit's harness for the toy broker: the broker connected to a
:class:`~stratequeue_toy.fake.FakeToyExchange`, and the kit's venue actions mapped onto it."""

from __future__ import annotations

from stratequeue.brokers.base import BrokerConfig
from stratequeue.models import BrokerOrder, Side
from stratequeue.testing.harness import FaultKind, Reconnecting

from .broker import ToyBroker
from .fake import FakeToyExchange

__all__ = ["ToyHarness"]


class ToyHarness(Reconnecting[ToyBroker]):
    """``symbol`` trades at ``price`` when the case starts."""

    def __init__(self, fake: FakeToyExchange, symbol: str = "TOY", price: float = 100.0) -> None:
        self.fake = fake
        self.symbol = symbol
        self.price = price
        fake.set_price(symbol, price)
        self.broker = self._connect()

    def _connect(self) -> ToyBroker:
        env = {"TOY_API_KEY": self.fake.api_key, "TOY_URL": self.fake.base_url}
        broker = ToyBroker(BrokerConfig("toy", credentials=env))
        broker.connect()
        return broker

    def set_price(self, symbol: str, price: float) -> None:
        self.fake.set_price(symbol, price)

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        self.fake.execute(client_order_id, qty, price)

    def posts(self, client_order_id: str) -> int:
        return self.fake.posts[client_order_id]

    def fail_next(
        self, kind: FaultKind, status: int, times: int = 1, *, after: bool = False
    ) -> None:
        raise NotImplementedError("the toy broker does not declare Capability.NETWORK")

    def drop_connection(self) -> None:
        raise NotImplementedError("the toy broker keeps no connection open")

    def refused_order(self, client_order_id: str) -> tuple[BrokerOrder, str]:
        return BrokerOrder(client_order_id, self.symbol, Side.BUY, 0.0), "qty must be positive"
