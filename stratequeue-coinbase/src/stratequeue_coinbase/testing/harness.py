"""The conformance-kit harness for the Coinbase broker: the plugin's client against the fake.

The broker polls every working order's fills at each ``poll_fills`` (``reconcile_interval=0``)
besides listening to the user channel, so every execution is reported by both and the kit
checks it is delivered once.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from stratequeue.brokers.base import BrokerConfig
from stratequeue.models import BrokerOrder, Side
from stratequeue.testing.harness import FaultKind, Reconnecting

from ..broker import CoinbaseBroker
from . import FakeCoinbase

__all__ = ["CoinbaseHarness", "fast_params"]

_FAULT_ROUTES: dict[str, tuple[str, str]] = {
    "submit": ("POST", "/api/v3/brokerage/orders"),
    "lookup": ("GET", "/api/v3/brokerage/orders/historical/batch"),
    "positions": ("GET", "/api/v3/brokerage/accounts"),
}


def fast_params(**params: Any) -> dict[str, Any]:
    """Broker parameters for tests: short waits and backoffs."""
    return {
        "timeout": 2.0,
        "retry_backoff": 0.01,
        "stream_backoff": 0.05,
        "stream_wait": 5.0,
        "reconcile_interval": 0.0,
        **params,
    }


class CoinbaseHarness(Reconnecting[CoinbaseBroker]):
    def __init__(
        self, fake: FakeCoinbase, symbol: str = "BTC-USD", price: float = 190.0, **params: Any
    ) -> None:
        self.fake = fake
        self.symbol = symbol
        self.price = price
        #: the broker's journal of edits: one per harness, kept across connect_new (a restart)
        self._home = Path(tempfile.mkdtemp(prefix="sq-coinbase-"))
        self._params = fast_params(**{"journal": str(self._home / "edits.sqlite"), **params})
        fake.exchange.set_price(symbol, price)
        self.broker = self._connect()

    def _connect(self) -> CoinbaseBroker:
        config = BrokerConfig(
            "coinbase",
            paper_trading=False,
            credentials=self.fake.env(),
            additional_params=self._params,
        )
        broker = CoinbaseBroker(config)
        if not broker.connect():
            raise RuntimeError(
                f"the Coinbase broker could not connect to the fake at {self.fake.host}"
            )
        return broker

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._home, ignore_errors=True)

    def set_price(self, symbol: str, price: float) -> None:
        self.fake.exchange.set_price(symbol, price)

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        self.fake.exchange.fill(client_order_id, qty, price)

    def posts(self, client_order_id: str) -> int:
        return self.fake.exchange.posts[client_order_id]

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
            "INSUFFICIENT_FUND",
        )
