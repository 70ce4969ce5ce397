"""What the broker conformance kit needs from a plugin: a connected broker and a handle on the
venue behind it (the plugin's fake). One small protocol; the paper broker's is
:class:`stratequeue.testing.paper.PaperHarness`, Alpaca's is
``stratequeue_alpaca.testing.harness.AlpacaHarness``.
"""

from __future__ import annotations

from typing import Generic, Literal, Protocol, TypeVar

from ..brokers.base import BaseBroker
from ..models import BrokerOrder

__all__ = ["BrokerHarness", "FaultKind", "Reconnecting"]

#: the requests :meth:`BrokerHarness.fail_next` can make fail: placing an order, looking one
#: up by client order id, listing positions
FaultKind = Literal["submit", "lookup", "positions"]


class BrokerHarness(Protocol):
    """A broker under test and its venue. The kit drives the venue only through this.

    ``broker`` is connected, and set up so that every source it has reports each execution
    (a streaming broker also polls at every ``poll_fills``): the kit checks that an execution
    two sources report is delivered once. Orders are sent for ``symbol``, which trades at
    ``price`` when the case starts, and which the account may buy fractionally and sell short
    where the broker declares those capabilities.
    """

    broker: BaseBroker
    symbol: str
    price: float

    def connect_new(self) -> BaseBroker:
        """The process restarted: disconnect ``broker`` (the case never uses it again), connect
        a new instance to the same account, make it ``broker`` and return it."""
        ...

    def set_price(self, symbol: str, price: float) -> None:
        """The market trades at ``price``: working orders it reaches execute (a simulated
        broker's next bar; a market order waiting for one fills at this price)."""
        ...

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        """Execute ``qty`` (default: the rest) of a working order at the venue, at ``price``
        (default: the last price), whatever its limit or stop says."""
        ...

    def posts(self, client_order_id: str) -> int:
        """Order submissions carrying ``client_order_id`` that reached the venue (at the wire
        for a network broker: refused ones count too), across every instance connected."""
        ...

    def fail_next(
        self, kind: FaultKind, status: int, times: int = 1, *, after: bool = False
    ) -> None:
        """Answer the next ``times`` requests of ``kind`` with HTTP ``status`` (429, 5xx);
        ``after``: do the work first (the order is placed), then answer the error.
        Network brokers only (Capability.NETWORK)."""
        ...

    def drop_connection(self) -> None:
        """Drop the broker's live connections from the venue's side (its stream); the broker
        must reconnect by itself. Network brokers only."""
        ...

    def refused_order(self, client_order_id: str) -> tuple[BrokerOrder, str]:
        """An order the venue refuses, and words its refusal message contains."""
        ...


B = TypeVar("B", bound=BaseBroker)


class Reconnecting(Generic[B]):
    """``connect_new`` and ``close`` for a harness whose ``_connect`` opens a broker on the
    venue."""

    broker: B

    def _connect(self) -> B:
        raise NotImplementedError

    def connect_new(self) -> B:
        """Disconnect ``broker``, connect a new one with ``_connect`` and return it."""
        self.broker.disconnect()
        self.broker = self._connect()
        return self.broker

    def close(self) -> None:
        """Disconnect ``broker``."""
        self.broker.disconnect()
