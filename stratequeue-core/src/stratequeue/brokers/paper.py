"""The ``paper`` broker: a local simulated account, no credentials needed.

Two ways an order fills:

* **Book-priced** orders (``qty`` and ``notional`` both None) are what StrateQueue's own
  strategies send: backtesting.py sizes such orders at fill time from the strategy's capital,
  so their quantity and price are decided by the strategy's book with backtesting.py's own
  rules (next bar's open, limit/stop/SL/TP semantics) and reported through
  :meth:`PaperBroker.fill_from_book`. This is what makes a paper run (and ``stratequeue replay``)
  match ``Backtest.run`` exactly.
* **Sized** orders (``qty`` or ``notional`` given) are matched by the broker itself against the
  bars it sees: market orders at the next bar's open, limit and stop orders when the bar
  crosses their price (limit at the better of open and limit, stop at the worse of open and
  stop), as backtesting.py does.

What the kit (:mod:`stratequeue.testing.conformance`) holds it to, its capabilities: market,
limit, stop and stop-limit orders (matched against bars); partial fills (a book-priced order
is filled in parts, one per strategy of a netted order, each part reported once with the
order's cumulative quantity); fractional quantities; shorts; executions (every fill with its
id, kept in the account file, listed by :meth:`PaperBroker.get_executions`). Not brackets,
OCO pairs or replace: a strategy's SL/TP and its price edits live in its backtesting.py book,
which decides when they fill; the paper broker never holds them as orders. No network.

Cash starts at ``cash`` (default 100,000); ``commission`` is a fraction of traded value.
Positions can be long or short, with fractional quantities. The account can persist in a
SQLite file (``path``) so that it survives a restart, as a real broker's account would.
Every ``submit_order`` call is logged (``submissions``: client order id and time), also one
that repeats a known id and is answered with the order already held.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar

from .. import hookimpl
from ..errors import BrokerError
from ..ledger.paper_account import PaperStore, fill_to_dict, order_from_dict, order_to_dict
from ..models import (
    AccountInfo,
    Bar,
    BrokerOrder,
    Fill,
    OrderStatus,
    Position,
    Side,
    utc,
)
from .base import BaseBroker, BrokerConfig, Capability, CredentialStatus, OrderAck
from .paper_orders import Holding, PaperOrder, match_price, sized

__all__ = ["PaperBroker", "register_brokers"]


class PaperBroker(BaseBroker):
    name = "paper"
    display_name = "Paper (local simulation)"
    fills_at_book_prices = True
    features = {
        "assets": "any symbol the data source has",
        "orders": "market, limit, stop, stop-limit",
    }
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.MARKET,
            Capability.LIMIT,
            Capability.STOP,
            Capability.STOP_LIMIT,
            Capability.PARTIAL_FILLS,
            Capability.FRACTIONAL,
            Capability.SHORT,
            Capability.EXECUTIONS,
        }
    )

    def __init__(self, config: BrokerConfig | None = None) -> None:
        super().__init__(config or BrokerConfig("paper"))
        params: Mapping[str, object] = self.config.additional_params
        self.starting_cash = float(params.get("cash", 100_000.0))  # type: ignore[arg-type]
        self.commission = float(params.get("commission", 0.0))  # type: ignore[arg-type]
        self._path = params.get("path")
        self._lock = threading.RLock()
        self.cash = self.starting_cash
        self.holdings: dict[str, Holding] = {}
        self.orders: dict[str, PaperOrder] = {}
        #: the sized orders that may still be open, which on_bar matches: its work follows the
        #: open orders, not every order ever placed (a done one is dropped at the next bar)
        self._working: dict[str, PaperOrder] = {}
        self.marks: dict[str, float] = {}
        self._fills: list[Fill] = []
        self._store: PaperStore | None = None
        self.executions: set[str] = set()  # execution ids applied: a fill is never booked twice
        self._history: list[Fill] = []  # every execution, oldest first (get_executions)
        #: orders placed per client order id: a known id places nothing, so never above 1
        self.placed: Counter[str] = Counter()
        #: Every order request received, in order (client order id, when), across restarts.
        self.submissions: list[tuple[str, datetime]] = []
        self.transfers: set[str] = set()  # ids of the transfers made: each is made once
        self.account_id = "PAPER-LOCAL"

    # -- setup ---------------------------------------------------------------------------------
    @classmethod
    def credential_status(cls, env: Mapping[str, str]) -> CredentialStatus:
        return CredentialStatus(paper=True, live=False, detail="built in, no credentials")

    @classmethod
    def setup_instructions(cls) -> str:
        return (
            "The paper broker is built in and needs no account: it simulates a 100,000 USD account "
            "locally (set its cash with --cash). It is used whenever --paper runs without broker "
            "credentials."
        )

    def connect(self) -> bool:
        if self._path and self._store is None:
            self._store = PaperStore(str(self._path))
            state = self._store.load()
            if state["cash"] is None:
                self._persist()
            else:
                self._restore(state)
        return True

    def disconnect(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- persistence ---------------------------------------------------------------------------
    def _persist(
        self,
        *,
        symbols: tuple[str, ...] = (),
        orders: tuple[PaperOrder, ...] = (),
        fills: tuple[Fill, ...] = (),
        submitted: tuple[str, datetime] | None = None,
        transfer: tuple[str, float] | None = None,
    ) -> None:
        if self._store is None:
            return
        self._store.save(
            cash=self.cash,
            holdings={s: (self.holdings[s].qty, self.holdings[s].avg_price) for s in symbols},
            orders=[
                {
                    "order": order_to_dict(o.order),
                    "status": o.status.value,
                    "broker_order_id": o.broker_order_id,
                    "filled_qty": o.filled_qty,
                    "message": o.message,
                }
                for o in orders
            ],
            executions=[fill_to_dict(f) for f in fills],
            submissions=[(submitted[0], submitted[1].isoformat())] if submitted else (),
            transfers=[transfer] if transfer else (),
        )

    def _restore(self, state: dict) -> None:
        self.cash = state["cash"]
        self.holdings = {s: Holding(q, a) for s, (q, a) in state["holdings"].items()}
        for o in state["orders"]:
            order = order_from_dict(o["order"])
            entry = self.orders[order.client_order_id] = PaperOrder(
                order, OrderStatus(o["status"]), o["broker_order_id"], o["filled_qty"], o["message"]
            )
            if entry.status.is_open and sized(order):
                self._working[order.client_order_id] = entry
        for f in state["executions"]:
            fill = Fill(
                **{
                    **f,
                    "side": Side(f["side"]),
                    "timestamp": datetime.fromisoformat(f["timestamp"]),
                }
            )
            self.executions.add(fill.execution_id)
            self._history.append(fill)
        self.transfers = state["transfers"]
        self.submissions = [(cid, datetime.fromisoformat(at)) for cid, at in state["submissions"]]

    # -- account -------------------------------------------------------------------------------
    def get_positions(self) -> list[Position]:
        with self._lock:
            return [
                Position(s, h.qty, h.avg_price, self.marks.get(s))
                for s, h in sorted(self.holdings.items())
                if h.qty
            ]

    def get_account_info(self) -> AccountInfo:
        with self._lock:
            positions = tuple(self.get_positions())
            equity = self.cash + sum(p.market_value for p in positions)
            return AccountInfo(
                self.account_id,
                self.cash,
                equity,
                max(self.cash, 0.0),
                positions=positions,
                mode="paper",
            )

    # -- orders --------------------------------------------------------------------------------
    def submit_order(self, order: BrokerOrder) -> OrderAck:
        with self._lock:
            submitted = (order.client_order_id, datetime.now(UTC))
            self.submissions.append(submitted)
            known = self.orders.get(order.client_order_id)
            if known is not None:
                self._persist(submitted=submitted)
                return known.ack()
            self.placed[order.client_order_id] += 1
            if order.qty is not None and order.qty <= 0:
                rejected = PaperOrder(order, OrderStatus.REJECTED, message="qty must be > 0")
                self.orders[order.client_order_id] = rejected
                self._persist(orders=(rejected,), submitted=submitted)
                return rejected.ack()
            entry = self.orders[order.client_order_id] = PaperOrder(order)
            if sized(order):
                self._working[order.client_order_id] = entry
            self._persist(orders=(entry,), submitted=submitted)
            return entry.ack()

    def cancel_order(self, client_order_id: str) -> OrderAck:
        with self._lock:
            entry = self.orders.get(client_order_id)
            if entry is None:
                raise BrokerError(f"Order '{client_order_id}' is unknown to the paper broker.")
            if entry.status.is_open:
                entry.status = OrderStatus.CANCELED
                self._persist(orders=(entry,))
            return entry.ack()

    def get_order(self, client_order_id: str) -> OrderAck | None:
        with self._lock:
            entry = self.orders.get(client_order_id)
            return entry.ack() if entry else None

    def get_open_orders(self) -> list[OrderAck]:
        with self._lock:
            return [o.ack() for o in self.orders.values() if o.status.is_open]

    def poll_fills(self) -> list[Fill]:
        with self._lock:
            fills, self._fills = self._fills, []
            return fills

    def get_executions(self, since: datetime | None = None) -> list[Fill]:
        """Every execution since ``since``, oldest first (kept in the account file with
        ``path``, so a restarted run lists the same executions under the same ids)."""
        with self._lock:
            return [f for f in self._history if since is None or utc(f.timestamp) >= utc(since)]

    def deposit(self, amount: float, transfer_id: str = "") -> None:
        """Add (or, negative, withdraw) cash: the simulated account's transfers. A transfer
        with an id is made once: asked again (after a restart), it is not repeated."""
        with self._lock:
            if transfer_id in self.transfers:
                return
            self.cash += amount
            if transfer_id:
                self.transfers.add(transfer_id)
            self._persist(transfer=(transfer_id, amount) if transfer_id else None)

    # -- fills ---------------------------------------------------------------------------------
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
        """Execute ``signed_qty`` of a book-priced order at ``price`` (decided by the book).

        ``cash_flow`` is what the account pays, when it is not ``qty * price + commission``:
        a netted order whose strategies' books priced their parts differently (spread), or
        whose opposite parts crossed completely (``signed_qty`` 0)."""
        with self._lock:
            entry = self.orders.get(client_order_id)
            if entry is None:
                raise BrokerError(f"Order '{client_order_id}' is unknown to the paper broker.")
            if execution_id and execution_id in self.executions:
                return Fill(
                    client_order_id,
                    entry.order.symbol,
                    Side.BUY if signed_qty > 0 else Side.SELL,
                    abs(signed_qty),
                    price,
                    timestamp,
                    commission,
                    execution_id,
                )
            if not entry.status.is_open:
                raise BrokerError(f"Order '{client_order_id}' is not open at the paper broker.")
            fill = self._execute(
                entry, signed_qty, price, timestamp, commission, execution_id, cash_flow
            )
            if final:
                entry.status = OrderStatus.FILLED
            self._persist(symbols=(entry.order.symbol,), orders=(entry,), fills=(fill,))
            return fill

    def close_book_order(self, client_order_id: str, filled: bool) -> None:
        """Mark a book-priced order done: filled, or cancelled by the book (e.g. no margin)."""
        with self._lock:
            entry = self.orders.get(client_order_id)
            if entry is not None and entry.status.is_open:
                entry.status = OrderStatus.FILLED if filled else OrderStatus.CANCELED
                self._persist(orders=(entry,))

    def _execute(
        self,
        entry: PaperOrder,
        signed_qty: float,
        price: float,
        ts: datetime,
        commission: float,
        execution_id: str = "",
        cash_flow: float | None = None,
    ) -> Fill:
        symbol = entry.order.symbol
        holding = self.holdings.setdefault(symbol, Holding())
        new_qty = holding.qty + signed_qty
        if signed_qty == 0:
            pass
        elif holding.qty == 0 or holding.qty * signed_qty > 0:
            holding.avg_price = (holding.avg_price * holding.qty + price * signed_qty) / new_qty
        elif new_qty * holding.qty < 0:  # flipped through zero
            holding.avg_price = price
        holding.qty = 0.0 if abs(new_qty) < 1e-12 else new_qty
        if holding.qty == 0:
            holding.avg_price = 0.0
        self.cash -= signed_qty * price + commission if cash_flow is None else cash_flow
        entry.filled_qty += abs(signed_qty)
        if entry.status is OrderStatus.ACCEPTED:
            entry.status = OrderStatus.PARTIALLY_FILLED
        side = Side.BUY if signed_qty > 0 else Side.SELL
        fill = Fill(
            entry.order.client_order_id,
            symbol,
            side,
            abs(signed_qty),
            price,
            ts,
            commission,
            execution_id or f"{entry.broker_order_id}-{entry.filled_qty:g}",
            cum_qty=entry.filled_qty,
        )
        self._fills.append(fill)
        self._history.append(fill)
        self.executions.add(fill.execution_id)
        return fill

    def on_bar(self, bar: Bar) -> None:
        """Match sized orders of ``bar``'s symbol (all were placed before this bar closed)."""
        with self._lock:
            self.marks[bar.symbol] = bar.close
            for cid, entry in list(self._working.items()):
                order = entry.order
                if not entry.status.is_open:
                    del self._working[cid]
                    continue
                if order.symbol != bar.symbol:
                    continue
                price = match_price(order, bar)
                if price is None:
                    continue
                qty = order.qty if order.qty is not None else (order.notional or 0.0) / price
                remaining = qty - entry.filled_qty
                signed = remaining if order.side is Side.BUY else -remaining
                fill = self._execute(
                    entry, signed, price, bar.timestamp, abs(remaining) * price * self.commission
                )
                entry.status = OrderStatus.FILLED
                self._persist(symbols=(bar.symbol,), orders=(entry,), fills=(fill,))


@hookimpl
def register_brokers(register):  # type: ignore[no-untyped-def]
    register("paper", PaperBroker)
