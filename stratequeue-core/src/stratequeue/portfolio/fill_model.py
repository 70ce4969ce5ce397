"""Where fills come from: the one place the portfolio tells a book-priced broker from a real one.

Two models, chosen once when the portfolio is built (:func:`fill_model_for`):

- :class:`~.book_fills.BookFills`: the strategies' books decide the fills (the paper broker,
  a replay; also signals only, with no broker). Sizes stay the books'.
- :class:`~.broker_fills.BrokerFills`: a real broker reports fills; quantities are sent, and
  each book is reconciled with the fills as they arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..brokers.base import BookPricedBroker
from ..models import Bar, BrokerOrder, OrderIntent, OrderStatus, Side
from .events import Event
from .state import Actions, Sleeve

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["FillModel", "fill_model_for"]


class FillModel(Protocol):
    """What the per-bar pipeline, the router and the exit policy ask of the fill model."""

    #: True when fills are the broker's own reports (the books follow them)
    real: bool

    def before_bar(self, when: datetime) -> list[Event]:
        """Before the books step: fills and order states that arrived since the last bar."""
        ...

    def after_step(
        self, bar: Bar, steps: Sequence[tuple[Sleeve, Any]], actions: Actions
    ) -> list[Event]:
        """After the books stepped, inside the bar's transaction: their executions as fills."""
        ...

    def route_exit(
        self,
        sleeve: Sleeve,
        intent: OrderIntent,
        netted: dict[str, list[tuple[Sleeve, OrderIntent]]],
        exits: dict[tuple[str, str, str], list[tuple[Sleeve, OrderIntent]]],
        actions: Actions,
    ) -> bool:
        """A trade's new exit order: True when taken care of, False to send it alone."""
        ...

    def withdraw(self, sleeve: Sleeve, ref: str, actions: Actions) -> None:
        """The book canceled order ``ref``."""
        ...

    def reprice(self, sleeve: Sleeve, ref: str, actions: Actions) -> None:
        """The book changed order ``ref``'s prices."""
        ...

    def size(
        self, group: Sequence[tuple[Sleeve, OrderIntent]]
    ) -> tuple[float | None, Side, list[float]]:
        """The quantity to send (None: the broker takes the books'), its side, each leg's size."""
        ...

    def send(self, order: BrokerOrder, when: datetime) -> list[Event]:
        """Send a committed order to the broker."""
        ...

    def ledger_status(self, status: OrderStatus) -> OrderStatus:
        """The ledger's status for an order the broker answered with ``status``."""
        ...

    def settle(self, actions: Actions) -> None:
        """After the orders went out: book the committed book fills at the broker."""
        ...

    def poll(self, before: datetime | None) -> list[Event]:
        """Fills the broker reported since the last look, applied."""
        ...

    def end_order(self, cid: str, actions: Actions) -> None:
        """``--on-exit cancel``/``flatten``: end an open order."""
        ...

    def flatten(self) -> list[Event]:
        """``--on-exit flatten``: close every strategy's positions."""
        ...


def fill_model_for(portfolio: Portfolio) -> FillModel:
    """Book fills unless the broker reports fills of its own (not book-priced)."""
    from .book_fills import BookFills
    from .broker_fills import BrokerFills

    broker = portfolio.broker
    if broker is not None and not isinstance(broker, BookPricedBroker):
        return BrokerFills(portfolio)
    return BookFills(portfolio)
