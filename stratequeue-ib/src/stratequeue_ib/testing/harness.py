"""The conformance-kit harness for the IB broker: the real ib_async against the fake TWS.

IB speaks no HTTP, so the kit's HTTP faults are played as what TWS does instead: a 429 is
TWS's pacing refusal (error 100: more than 50 messages a second, nothing placed), a 5xx is the
connection dropping, before the order reaches TWS or (``after``) right after it did.
"""

from __future__ import annotations

from typing import Any

from stratequeue.brokers.base import BrokerConfig
from stratequeue.models import BrokerOrder, Side
from stratequeue.testing.harness import FaultKind, Reconnecting

from ..broker import IBBroker
from .server import FakeTWS

__all__ = ["IBHarness", "fast_params"]


def fast_params(**params: Any) -> dict[str, Any]:
    """Broker parameters for tests: short waits and backoffs."""
    return {
        "timeout": 5.0,
        "connect_timeout": 2.0,
        "order_wait": 3.0,
        "reconnect_backoff": 0.05,
        "max_backoff": 0.5,
        **params,
    }


class IBHarness(Reconnecting[IBBroker]):
    def __init__(
        self,
        fake: FakeTWS,
        symbol: str = "AAPL",
        price: float = 190.0,
        client_id: int = 1,
        **params: Any,
    ) -> None:
        self.fake = fake
        self.symbol = symbol
        self.price = price
        self._env = {
            "IB_HOST": fake.host,
            "IB_PORT": str(fake.port),
            "IB_CLIENT_ID": str(client_id),
            "IB_ACCOUNT": fake.exchange.account,
        }
        self._params = fast_params(**params)
        fake.set_price(symbol, price)
        self.broker = self._connect()

    def _connect(self) -> IBBroker:
        broker = IBBroker(BrokerConfig("ib", credentials=self._env, additional_params=self._params))
        if not broker.connect():
            raise RuntimeError(
                f"the IB broker could not connect to the fake TWS at {self.fake.address}"
            )
        return broker

    def set_price(self, symbol: str, price: float) -> None:
        self.fake.set_price(symbol, price)

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        self.fake.fill(client_order_id, qty, price)

    def posts(self, client_order_id: str) -> int:
        return self.fake.places(client_order_id)

    def fail_next(
        self, kind: FaultKind, status: int, times: int = 1, *, after: bool = False
    ) -> None:
        if kind == "lookup":
            raise ValueError(
                "the IB broker looks orders up in the state ib_async synced: no request to fail"
            )
        if kind == "submit" and status == 429:
            self.fake.fault("submit", "pace", times)
        elif kind == "submit":
            self.fake.fault("submit", "drop-after" if after else "drop", times)
        else:
            self.fake.fault("positions", "drop", times)

    def drop_connection(self) -> None:
        self.fake.drop_connections()

    def refused_order(self, client_order_id: str) -> tuple[BrokerOrder, str]:
        return (
            BrokerOrder(client_order_id, self.symbol, Side.BUY, 10_000_000),
            "insufficient buying power",
        )
