"""What a broker is. Plugins subclass :class:`BaseBroker` and register it with
``register_brokers``; the 0.5 API (``connect``, ``execute_order``, ``get_account_info``) is kept.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..models import AccountInfo, Bar, BrokerOrder, Fill, OrderStatus, Position, Side

__all__ = [
    "BaseBroker",
    "BookPricedBroker",
    "BrokerConfig",
    "Capability",
    "CredentialStatus",
    "OrderAck",
]


class Capability(StrEnum):
    """What a broker can do. A plugin declares its set in ``BaseBroker.capabilities``; the
    portfolio uses it to choose how to send an order, and the broker conformance kit
    (:mod:`stratequeue.testing.conformance`) skips, by name, the cases a broker cannot do."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    #: an entry with take-profit and stop-loss legs, working at the broker from its first fill
    #: (stocks; not crypto). The plugin reports the legs' fills as ``<entry cid>/tp`` and
    #: ``<entry cid>/sl`` and takes those names in get_order, cancel_order and replace_order.
    BRACKET = "bracket"
    #: a trade's exit pair (take-profit limit + stop loss), one cancels the other
    OCO = "oco"
    #: change a working order's prices in place (else: cancel and send again)
    REPLACE = "replace"
    PARTIAL_FILLS = "partial_fills"
    FRACTIONAL = "fractional"
    SHORT = "short"
    #: every execution with the broker's own id, also after a restart (get_executions)
    EXECUTIONS = "executions"
    #: talks HTTP: 429 / 5xx answers and dropped connections can happen (and are retried)
    NETWORK = "network"


@dataclass(frozen=True)
class BrokerConfig:
    """How to build a broker. ``credentials`` never appear in reprs, logs or the ledger.

    Attributes:
        broker_type: the registered name (``--broker``).
        paper_trading: False for ``--live``: the broker must then use live credentials only.
        credentials: the environment and ``.env`` (read the broker's variables from it).
        additional_params: options of the run (the paper broker's ``path`` and ``cash``).
    """

    broker_type: str
    paper_trading: bool = True
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    additional_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CredentialStatus:
    """What ``--broker-status`` shows for one broker (never the secrets themselves)."""

    paper: bool
    live: bool
    detail: str = ""

    @property
    def status(self) -> str:
        if self.paper and self.live:
            return "Paper & Live Ready"
        if self.paper:
            return "Paper Ready"
        if self.live:
            return "Live Ready"
        return "Not Configured"


@dataclass(frozen=True)
class OrderAck:
    """A broker's answer about one order.

    Attributes:
        client_order_id: StrateQueue's id of the order (a bracket leg: ``<entry id>/sl|tp``).
        status: where the order is; REJECTED carries the broker's reason in ``message``,
            UNKNOWN means the answer was lost and the order may exist.
        broker_order_id: the broker's own id ("" when it has none yet).
        filled_qty: the quantity filled so far (cumulative).
        filled_avg_price: the average price of ``filled_qty``, when the broker says it.
        side, qty: what the order does, for orders StrateQueue did not send (reconciliation).
    """

    client_order_id: str
    status: OrderStatus
    broker_order_id: str = ""
    message: str = ""
    filled_qty: float = 0.0
    symbol: str = ""
    filled_avg_price: float | None = None  # lets a restart account for fills it missed
    side: Side | None = None  # what the order does (reconciliation reports unknown orders)
    qty: float | None = None


class BaseBroker(ABC):
    """A trading account.

    ``fills_at_book_prices`` marks a simulated broker whose fills follow backtesting.py's
    rules exactly (sizes decided at fill time from the strategy's capital); a real broker
    leaves it False: the portfolio then converts sizes at submission and reconciles each
    strategy's book with the fills it reports.
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    fills_at_book_prices: ClassVar[bool] = False
    #: Asset classes and order types, for ``--list-brokers``.
    features: ClassVar[Mapping[str, str]] = {}
    #: False: the venue has no paper trading; ``--paper`` with it trades on the local paper
    #: broker instead (said once), on the venue's market data when it has a ``data_source``.
    paper_account: ClassVar[bool] = True
    #: The name of this plugin's data source for the venue's bars, if it has one.
    data_source: ClassVar[str | None] = None
    #: An old name of another broker (``tda`` for ``schwab``): never picked by credentials.
    alias_of: ClassVar[str] = ""
    #: What this broker can do (see :class:`Capability`).
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.MARKET})

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config

    # -- answers about an order sent ---------------------------------------------------------
    def _unknown(self, order: BrokerOrder, message: str) -> OrderAck:
        """Sent, and the broker may hold it: kept open as UNKNOWN, looked up again later."""
        logging.getLogger(type(self).__module__).error(
            "Order %s: %s; it is kept as sent, state unknown", order.client_order_id, message
        )
        return OrderAck(
            order.client_order_id,
            OrderStatus.UNKNOWN,
            message=f"state unknown: {message}",
            symbol=order.symbol,
        )

    def _refused(self, order: BrokerOrder, message: str) -> OrderAck:
        """The broker said no: REJECTED, with its reason."""
        logging.getLogger(type(self).__module__).warning(
            "Order %s %s %s rejected: %s", order.client_order_id, order.side, order.symbol, message
        )
        return OrderAck(
            order.client_order_id, OrderStatus.REJECTED, message=message, symbol=order.symbol
        )

    # -- credentials and setup -------------------------------------------------------------
    @classmethod
    def credential_status(cls, env: Mapping[str, str]) -> CredentialStatus:
        """Which credentials ``env`` holds for this broker (paper, live)."""
        return CredentialStatus(paper=False, live=False)

    @classmethod
    def setup_instructions(cls) -> str:
        """What ``--broker-setup NAME`` prints: the variables to set and where to get them."""
        return f"The '{cls.name}' broker needs no setup."

    @classmethod
    def interactive_setup(
        cls, env: Mapping[str, str], ask: Callable[[str], str], say: Callable[[str], None]
    ) -> bool:
        """A login ``--broker-setup NAME`` walks a person through (``ask`` prompts, ``say``
        shows a line); False when the broker has none. Raises BrokerError naming what failed."""
        return False

    # -- the account ------------------------------------------------------------------------
    @abstractmethod
    def connect(self) -> bool:
        """Open the connection and check the credentials.

        Returns:
            True when the account answered.

        Raises:
            BrokerError: credentials missing (name the variables to set) or refused.
        """

    def disconnect(self) -> None:  # noqa: B027 - optional hook
        """Close connections."""

    @abstractmethod
    def get_account_info(self) -> AccountInfo:
        """Cash, equity (cash plus positions at market) and signed positions of the account."""

    @abstractmethod
    def get_positions(self) -> list[Position]:
        """Open positions, signed quantities."""

    # -- orders -----------------------------------------------------------------------------
    @abstractmethod
    def submit_order(self, order: BrokerOrder) -> OrderAck:
        """Send ``order``. Must be idempotent on ``order.client_order_id``: a second call with
        an id the broker already knows returns that order's state and places nothing.

        Returns:
            The order's state: ACCEPTED (or already filled) with ``broker_order_id``;
            REJECTED with the broker's reason in ``message`` (use :meth:`_refused`); UNKNOWN
            when the answer was lost and the broker may hold the order (use :meth:`_unknown`):
            StrateQueue looks it up again and never books it as rejected.

        A refusal or a lost answer is an answer, not an exception: the run goes on.
        """

    @abstractmethod
    def cancel_order(self, client_order_id: str) -> OrderAck:
        """Cancel a working order; returns its state after the request (CANCELED, or FILLED
        when it filled first)."""

    @abstractmethod
    def get_order(self, client_order_id: str) -> OrderAck | None:
        """The order's current state, or None when the broker never received it.

        Must work from a new connection (after a restart): StrateQueue finds its orders by
        client order id, never by a handle kept in memory.
        """

    @abstractmethod
    def get_open_orders(self) -> list[OrderAck]:
        """Every working order of the account."""

    def replace_order(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> OrderAck:
        """Change a working order's prices (Capability.REPLACE); the result carries
        ``new_client_order_id``. Brokers without it raise NotImplementedError and the
        portfolio cancels and sends again."""
        raise NotImplementedError(f"the '{self.name}' broker cannot replace orders")

    def poll_fills(self) -> list[Fill]:
        """Executions since the last call (streaming brokers queue them here), each once,
        with the broker's ``execution_id`` and the order's cumulative quantity ``cum_qty``."""
        return []

    def get_executions(self, since: datetime | None = None) -> list[Fill]:
        """Every execution of the account since ``since`` (Capability.EXECUTIONS), each with
        the broker's own execution id and the order's cumulative quantity (``Fill.cum_qty``),
        for restart reconciliation. Brokers without it return []."""
        return []

    def on_bar(self, bar: Bar) -> None:  # noqa: B027 - optional hook
        """A closed bar: simulated brokers update prices and match orders here."""

    # -- 0.5 API ----------------------------------------------------------------------------
    def execute_order(self, signal: Any, portfolio_manager: Any = None) -> OrderAck:
        """0.5 compatibility: place a :class:`BrokerOrder` (``signal``)."""
        if not isinstance(signal, BrokerOrder):
            raise TypeError("execute_order takes a stratequeue.models.BrokerOrder")
        return self.submit_order(signal)

    def __repr__(self) -> str:
        mode = "paper" if self.config.paper_trading else "live"
        return f"<{type(self).__name__} {self.name} {mode}>"


@runtime_checkable
class BookPricedBroker(Protocol):
    """A simulated broker whose fills the strategies' books decide (``fills_at_book_prices``):
    the portfolio books each fill with :meth:`fill_from_book` after committing it to the
    ledger, and closes orders the books are done with."""

    executions: set[str]

    def fill_from_book(
        self,
        client_order_id: str,
        signed_qty: float,
        price: float,
        timestamp: datetime,
        commission: float = 0.0,
        *,
        final: bool = True,
        execution_id: str = "",
        cash_flow: float | None = None,
    ) -> Fill:
        """Book a part of order ``client_order_id`` that a strategy's book filled
        (``signed_qty`` at ``price``); ``final`` on the last part. Returns the execution."""
        ...

    def close_book_order(self, client_order_id: str, filled: bool) -> None:
        """The books are done with the order: close it, filled or not."""
        ...

    def deposit(self, amount: float, transfer_id: str = "") -> None:
        """Add ``amount`` of cash (negative: withdraw), once per ``transfer_id``."""
        ...
