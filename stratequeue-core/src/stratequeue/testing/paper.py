"""The paper broker's conformance harness: its venue is the broker itself.

How the kit's venue actions map onto the paper broker (the choice, and why):

* ``set_price`` is a bar at that price (open = high = low = close) given to
  :meth:`~stratequeue.brokers.paper.PaperBroker.on_bar`: sized orders are matched against bars
  by backtesting.py's rules, so a market order fills at the next bar's open, a limit or stop
  when the bar reaches it.
* ``fill`` is :meth:`~stratequeue.brokers.paper.PaperBroker.fill_from_book`, the path by which
  a run books its strategies' book-priced fills (one call per part of a netted order,
  ``final`` on the last): the book is the venue that decides those executions.
* A restart (``connect_new``) is a new broker on the same account file (``path``).
* ``posts`` counts the orders the broker placed under an id (:attr:`PaperBroker.placed`):
  there is no wire, and a known id places nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..brokers.base import BrokerConfig
from ..brokers.paper import PaperBroker
from ..models import Bar, BrokerOrder, Side
from .harness import FaultKind, Reconnecting

__all__ = ["PaperHarness"]


class PaperHarness(Reconnecting[PaperBroker]):
    """The paper broker with its account in the file ``path``; ``symbol`` at ``price``.

    The venue actions are mapped as the module's description says; ``fail_next`` and
    ``drop_connection`` raise NotImplementedError (no network: the broker does not declare
    ``Capability.NETWORK``, so the kit never calls them).
    """

    def __init__(self, path: str | Path, symbol: str = "SPY", price: float = 100.0) -> None:
        self.path = str(path)
        self.symbol = symbol
        self.price = price
        self._marks: dict[str, float] = {}
        self._clock = datetime(2024, 6, 3, 14, 30, tzinfo=UTC)
        self._instances: list[PaperBroker] = []
        self.broker = self._connect()
        self.set_price(symbol, price)

    def _connect(self) -> PaperBroker:
        broker = PaperBroker(BrokerConfig("paper", additional_params={"path": self.path}))
        broker.connect()
        self._instances.append(broker)
        return broker

    def _tick(self) -> datetime:
        self._clock += timedelta(minutes=1)
        return self._clock

    def set_price(self, symbol: str, price: float) -> None:
        self._marks[symbol] = price
        self.broker.on_bar(Bar(symbol, self._tick(), price, price, price, price, 0.0))

    def fill(
        self, client_order_id: str, qty: float | None = None, price: float | None = None
    ) -> None:
        ack = self.broker.get_order(client_order_id)
        order = self.broker.orders[client_order_id].order
        if ack is None or order.qty is None:
            raise ValueError(f"order {client_order_id!r} is not a sized order of this broker")
        rest = order.qty - ack.filled_qty
        part = rest if qty is None else min(qty, rest)
        self.broker.fill_from_book(
            client_order_id,
            part if order.side is Side.BUY else -part,
            price if price is not None else self._marks[order.symbol],
            self._tick(),
            final=part >= rest,
        )

    def posts(self, client_order_id: str) -> int:
        return sum(b.placed[client_order_id] for b in self._instances)

    def fail_next(
        self, kind: FaultKind, status: int, times: int = 1, *, after: bool = False
    ) -> None:
        raise NotImplementedError("the paper broker has no network to fail")

    def drop_connection(self) -> None:
        raise NotImplementedError("the paper broker has no connection to drop")

    def refused_order(self, client_order_id: str) -> tuple[BrokerOrder, str]:
        return BrokerOrder(client_order_id, self.symbol, Side.BUY, 0.0), "qty must be > 0"
