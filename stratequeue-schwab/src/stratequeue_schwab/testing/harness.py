"""The conformance-kit harness for the Schwab broker: the real schwab-py against the fake.

The broker polls at every ``poll_fills`` (``poll_interval=0``) besides listening to the
ACCT_ACTIVITY stream. Schwab knows no client order id, so the venue-side questions the kit asks by client id
(``posts``, ``fill``) go through the broker's journal: the order's signature and Schwab id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratequeue.brokers.base import BrokerConfig
from stratequeue.models import BrokerOrder, Side
from stratequeue.testing.harness import FaultKind

from ..broker import SchwabBroker
from ..orders import signature_of_spec
from . import FakeSchwab

__all__ = ["SchwabHarness"]

_PARAMS = {
    "timeout": 2.0,
    "retry_backoff": 0.01,
    "confirm_wait": 0.0,
    "poll_interval": 0.0,
    "stream_retry": 0.1,
}


class SchwabHarness:
    def __init__(
        self,
        fake: FakeSchwab,
        folder: Path,
        symbol: str = "AAPL",
        price: float = 190.0,
        **params: Any,
    ) -> None:
        self.fake = fake
        self.symbol = symbol
        self.price = price
        self.token_path = folder / "schwab-token.json"
        fake.write_token_file(self.token_path)
        self.env = {**fake.env(self.token_path), "STRATEQUEUE_HOME": str(folder)}
        self._params = {**_PARAMS, "journal": folder / "schwab-orders.sqlite", **params}
        fake.exchange.set_price(symbol, price)
        self.broker = self._connect()

    def _connect(self) -> SchwabBroker:
        config = BrokerConfig(
            "schwab", paper_trading=False, credentials=self.env, additional_params=self._params
        )
        broker = SchwabBroker(config)
        broker.connect()
        return broker

    def connect_new(self) -> SchwabBroker:
        self.broker.disconnect()
        self.broker = self._connect()
        return self.broker

    def close(self) -> None:
        self.broker.disconnect()

    def _order_id(self, client_order_id: str) -> int:
        assert self.broker.journal is not None
        entry = self.broker.journal.get(client_order_id)
        assert entry is not None and entry.order_id, f"no Schwab order for {client_order_id}"
        return int(entry.order_id)

    def set_price(self, symbol: str, price: float) -> None:
        self.fake.exchange.set_price(symbol, price)

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        self.fake.fill(self._order_id(client_order_id), None if qty is None else int(qty), price)

    def posts(self, client_order_id: str) -> int:
        assert self.broker.journal is not None
        entry = self.broker.journal.get(client_order_id)
        if entry is None:
            return 0
        return self.fake.posts(signature_of_spec, entry.signature)

    def fail_next(
        self, kind: FaultKind, status: int, times: int = 1, *, after: bool = False
    ) -> None:
        self.fake.fail(kind, status, times=times, after=after)

    def drop_connection(self) -> None:
        self.fake.drop_streams()

    def refused_order(self, client_order_id: str) -> tuple[BrokerOrder, str]:
        return (
            BrokerOrder(client_order_id, self.symbol, Side.BUY, 10_000_000),
            "enough available cash",
        )
