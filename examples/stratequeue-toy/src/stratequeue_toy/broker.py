"""``--broker toy``: a StrateQueue broker for the Toy Exchange.

What StrateQueue needs from a broker, and how this one does it:

* idempotent submit: the order is looked up by its client order id first, so a resend after
  a restart (or a lost answer) returns the exchange's order and places nothing;
* every execution once, with the exchange's own id and the order's cumulative quantity:
  :meth:`ToyBroker.poll_fills` reads the executions after the last one it delivered, and
  :meth:`ToyBroker.get_executions` lists them all for restart reconciliation;
* a refusal is an ``OrderAck`` with status REJECTED and the exchange's message, never an
  exception; an answer lost to the network is UNKNOWN (looked up again later).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from stratequeue.brokers.base import (
    BaseBroker,
    BrokerConfig,
    Capability,
    CredentialStatus,
    OrderAck,
)
from stratequeue.data.live import Retry, TransientError
from stratequeue.errors import BrokerError
from stratequeue.models import AccountInfo, BrokerOrder, Fill, OrderStatus, Position, Side

from .client import ToyClient, ToyRefused

__all__ = ["ToyBroker"]

_STATUS = {
    "accepted": OrderStatus.ACCEPTED,
    "partial": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
}


def _ack(order: Mapping[str, Any]) -> OrderAck:
    """The exchange's order JSON as StrateQueue's :class:`OrderAck`."""
    return OrderAck(
        client_order_id=order["client_order_id"],
        status=_STATUS[order["status"]],
        broker_order_id=order["id"],
        filled_qty=float(order["filled_qty"]),
        symbol=order["symbol"],
        filled_avg_price=float(order["avg_price"]) if order["filled_qty"] else None,
        side=Side(order["side"]),
        qty=float(order["qty"]),
    )


def _fill(row: Mapping[str, Any]) -> Fill:
    """One execution JSON as a :class:`Fill`, with the exchange's id and cumulative qty."""
    return Fill(
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=float(row["qty"]),
        price=float(row["price"]),
        timestamp=datetime.fromisoformat(row["time"]),
        execution_id=row["id"],
        cum_qty=float(row["cum_qty"]),
    )


class ToyBroker(BaseBroker):
    """The Toy Exchange account at ``TOY_URL``, with the key ``TOY_API_KEY``.

    The exchange has one kind of account, so the same key serves ``--paper`` and ``--live``.
    """

    name = "toy"
    display_name = "Toy Exchange"
    features: ClassVar[Mapping[str, str]] = {"assets": "anything", "orders": "market, limit"}
    data_source = "toy"
    capabilities = frozenset(
        {
            Capability.MARKET,
            Capability.LIMIT,
            Capability.PARTIAL_FILLS,
            Capability.EXECUTIONS,
            Capability.FRACTIONAL,
            Capability.SHORT,
        }
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        self.client: ToyClient | None = None
        self._seen = 0  # the last execution sequence number delivered by poll_fills
        self._retry = Retry(attempts=3, backoff=0.2)

    @classmethod
    def credential_status(cls, env: Mapping[str, str]) -> CredentialStatus:
        """Ready for paper and live when ``TOY_API_KEY`` is set (never shown)."""
        ready = bool(env.get("TOY_API_KEY"))
        return CredentialStatus(paper=ready, live=ready, detail="TOY_API_KEY")

    @classmethod
    def setup_instructions(cls) -> str:
        return (
            "Set TOY_API_KEY (and TOY_URL, default http://127.0.0.1:8765) in .env. "
            "`stratequeue toy-exchange` serves a fake Toy Exchange on this machine."
        )

    def _call(self, what: str, method: str, path: str, body: Any = None, **query: Any) -> Any:
        assert self.client is not None, "connect() first"
        client = self.client
        return self._retry.call(what, lambda: client.request(method, path, body, **query))

    # -- the account ---------------------------------------------------------------------------
    def connect(self) -> bool:
        """Check the key against the account; deliver only executions from now on.

        Raises:
            BrokerError: no ``TOY_API_KEY``, or the exchange refused it.
        """
        env = self.config.credentials
        key = env.get("TOY_API_KEY")
        if not key:
            raise BrokerError("The toy broker needs TOY_API_KEY. Set it in .env.")
        self.client = ToyClient(env.get("TOY_URL", "http://127.0.0.1:8765"), key)
        try:
            self._call("toy account", "GET", "/v1/account")
            rows = self._call("toy executions", "GET", "/v1/executions")
        except ToyRefused as exc:
            raise BrokerError(f"The Toy Exchange refused the key: {exc.message}.") from None
        self._seen = max((int(r["seq"]) for r in rows), default=0)
        return True

    def get_account_info(self) -> AccountInfo:
        """Cash, equity (cash plus positions at their last price) and positions."""
        account = self._call("toy account", "GET", "/v1/account")
        positions = tuple(
            Position(p["symbol"], float(p["qty"]), float(p["avg_price"]), float(p["price"]))
            for p in account["positions"]
        )
        cash = float(account["cash"])
        equity = cash + sum(p.market_value for p in positions)
        return AccountInfo(
            account["account_id"], cash, equity, cash, positions=positions,
            mode="paper" if self.config.paper_trading else "live",
        )  # fmt: skip

    def get_positions(self) -> list[Position]:
        return list(self.get_account_info().positions)

    # -- orders --------------------------------------------------------------------------------
    def submit_order(self, order: BrokerOrder) -> OrderAck:
        """Send ``order`` once per client order id: a known id returns the exchange's order.

        Returns:
            ACCEPTED (or already FILLED ...) with the exchange's order id; REJECTED with the
            exchange's message when it refuses; UNKNOWN when the answer was lost.
        """
        try:
            known = self.get_order(order.client_order_id)
            if known is not None:
                return known
            body = {
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": str(order.side),
                "qty": order.qty,
                "type": str(order.order_type),
                "limit_price": order.limit_price,
            }
            assert self.client is not None
            return _ack(self.client.request("POST", "/v1/orders", body))
        except ToyRefused as exc:
            return self._refused(order, exc.message)
        except TransientError as exc:
            return self._unknown(order, str(exc))

    def cancel_order(self, client_order_id: str) -> OrderAck:
        try:
            answer = self._call("toy cancel", "DELETE", f"/v1/orders/{client_order_id}")
        except ToyRefused as exc:
            return OrderAck(client_order_id, OrderStatus.REJECTED, message=exc.message)
        return _ack(answer)

    def get_order(self, client_order_id: str) -> OrderAck | None:
        answer = self._call("toy order", "GET", f"/v1/orders/{client_order_id}")
        return None if answer is None else _ack(answer)

    def get_open_orders(self) -> list[OrderAck]:
        return [_ack(o) for o in self._call("toy open orders", "GET", "/v1/orders")]

    # -- executions ----------------------------------------------------------------------------
    def poll_fills(self) -> list[Fill]:
        """The executions after the last one this instance delivered, oldest first."""
        rows = self._call("toy executions", "GET", "/v1/executions", after=self._seen)
        if rows:
            self._seen = max(int(r["seq"]) for r in rows)
        return [_fill(r) for r in rows]

    def get_executions(self, since: datetime | None = None) -> list[Fill]:
        """Every execution of the account (from ``since``), for restart reconciliation."""
        rows = self._call(
            "toy executions", "GET", "/v1/executions",
            since=since.isoformat() if since else None,
        )  # fmt: skip
        return [_fill(r) for r in rows]
