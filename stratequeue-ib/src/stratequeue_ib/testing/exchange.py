"""The fake TWS's account and matching: orders, fills, positions and cash.

Runs on the server's event loop only (the :class:`~.server.FakeTWS` handle hops onto it), so
it holds no locks. It tells the server what changed through ``notify`` (``"order"`` with a
:class:`FakeOrder`, ``"execution"`` with a :class:`FakeExecution`), and ``schedule`` runs a
callback later (delayed fills).

Matching: a market order fills at the last price when it arrives (``hold`` keeps it waiting
for the next :meth:`set_price`); a limit, stop or stop-limit order fills at the current price
once a price reaches it. ``partial_fills`` splits each fill into that many executions,
``fill_delay`` makes each wait that many seconds. A bracket's children work once their parent
has filled and cancel each other; orders sharing an ``ocaGroup`` cancel each other on a fill.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from .state import FakeExecution, FakeOrder, Instrument

__all__ = ["Exchange", "OrderRequest", "Refusal"]

Notify = Callable[[str, object], None]
Schedule = Callable[[float, Callable[[], None]], None]


@dataclass(frozen=True)
class Refusal:
    """TWS's error for an order: its code and text."""

    code: int
    message: str


@dataclass(frozen=True)
class OrderRequest:
    """The parts of a placeOrder message the fake uses."""

    order_id: int
    client_id: int
    instrument: Instrument
    action: str
    qty: float
    order_type: str
    lmt: float | None
    aux: float | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int


def commission_for(shares: float) -> float:
    """IB's fixed US-stock rate: half a cent a share, at least a dollar per execution."""
    return round(max(1.0, 0.005 * shares), 2)


class Exchange:
    def __init__(self, accounts: tuple[str, ...] = ("DU123456",), cash: float = 100_000.0) -> None:
        self.accounts = list(accounts)
        self.cash = cash
        self.prices: dict[str, float] = {}
        self.orders: dict[tuple[int, int], FakeOrder] = {}  # (client id, order id) -> order
        self.executions: list[FakeExecution] = []
        self.positions: dict[int, tuple[Instrument, float, float]] = {}  # con id -> qty, cost
        self.hold = False
        self.fill_delay = 0.0
        self.partial_fills = 1
        self.refusals: list[Refusal] = []
        self.notify: Notify = lambda kind, obj: None
        self.schedule: Schedule = lambda delay, fn: fn()
        self._instruments: dict[tuple[str, str, str, str], Instrument] = {}
        self._perm_ids = itertools.count(1_000_001)
        self._exec_ids = itertools.count(1)
        self.next_order_id = 1

    # -- instruments and prices ------------------------------------------------------------
    def instrument(
        self, symbol: str, sec_type: str = "STK", currency: str = "USD", **kw: str
    ) -> Instrument:
        probe = Instrument(
            0, symbol, sec_type, currency=currency, last_trade=kw.get("last_trade", "")
        )
        found = self._instruments.get(probe.key)
        if found is None:
            found = Instrument(
                con_id=265_598 + len(self._instruments),
                symbol=symbol,
                sec_type=sec_type,
                exchange=kw.get("exchange", "SMART"),
                currency=currency,
                last_trade=kw.get("last_trade", ""),
                multiplier=kw.get("multiplier", ""),
            )
            self._instruments[probe.key] = found
        return found

    def set_price(self, symbol: str, price: float) -> None:
        self.prices[symbol] = price
        for order in list(self.orders.values()):
            if order.instrument.symbol == symbol:
                order.waits = False
                self._match(order)

    # -- the account -----------------------------------------------------------------------
    @property
    def account(self) -> str:
        return self.accounts[0]

    def market_value(self) -> float:
        return sum(
            qty * self.prices.get(i.symbol, cost / qty if qty else 0.0)
            for i, qty, cost in self.positions.values()
        )

    def net_liquidation(self) -> float:
        return self.cash + self.market_value()

    def account_values(self) -> dict[str, float]:
        net = self.net_liquidation()
        return {
            "NetLiquidation": round(net, 2),
            "TotalCashValue": round(self.cash, 2),
            "BuyingPower": round(4 * net, 2),
            "GrossPositionValue": round(
                sum(abs(q) * self.prices.get(i.symbol, 0.0) for i, q, _ in self.positions.values()),
                2,
            ),
        }

    # -- orders ----------------------------------------------------------------------------
    def place(self, req: OrderRequest) -> Refusal | None:
        """Take a placeOrder: a new order, or new terms for one this client has (a modify)."""
        self.next_order_id = max(self.next_order_id, req.order_id + 1)
        known = self.orders.get((req.client_id, req.order_id))
        if known is not None:
            return self._modify(known, req)
        if self.refusals:
            return self._refuse(req, self.refusals.pop(0))
        price = req.lmt or self.prices.get(req.instrument.symbol)
        if req.action == "BUY" and price and req.qty * price > 4 * self.net_liquidation():
            return self._refuse(
                req,
                Refusal(
                    201,
                    "Order rejected - reason: insufficient buying power: the order needs "
                    f"{req.qty * price:,.2f} USD",
                ),
            )
        if req.qty != int(req.qty):
            return self._refuse(
                req, Refusal(10243, "Fractional-sized order cannot be placed via API")
            )
        order = self._order(
            req, staged=not req.transmit, waits=self.hold and req.order_type == "MKT"
        )
        self.orders[(req.client_id, req.order_id)] = order
        if order.staged:
            return None
        self._transmit(order)
        return None

    def _order(self, req: OrderRequest, **state: Any) -> FakeOrder:
        """The order ``req`` places, with a new permId, in ``state`` (staged, status, ...)."""
        return FakeOrder(
            order_id=req.order_id,
            client_id=req.client_id,
            perm_id=next(self._perm_ids),
            instrument=req.instrument,
            action=req.action,
            qty=req.qty,
            order_type=req.order_type,
            lmt=req.lmt,
            aux=req.aux,
            tif=req.tif,
            oca_group=req.oca_group,
            account=req.account or self.account,
            order_ref=req.order_ref,
            parent_id=req.parent_id,
            **state,
        )

    def _refuse(self, req: OrderRequest, refusal: Refusal) -> Refusal:
        order = self._order(req, status="Cancelled")
        self._complete(order, f"Rejected: {refusal.message}")
        self.orders[(req.client_id, req.order_id)] = order
        return refusal

    def _transmit(self, last: FakeOrder) -> None:
        """``last`` was sent with transmit=True: it and its staged group go live together."""
        group = [
            o
            for o in self.orders.values()
            if o.client_id == last.client_id
            and o.staged
            and (o.order_id == last.parent_id or (last.parent_id and o.parent_id == last.parent_id))
        ]
        for order in sorted([*group, last], key=lambda o: o.order_id):
            order.staged = False
            order.status = "Submitted"
            self.notify("order", order)
        for order in sorted([*group, last], key=lambda o: o.order_id):
            self._match(order)

    def _modify(self, order: FakeOrder, req: OrderRequest) -> Refusal | None:
        if not order.is_open and not order.staged:
            return Refusal(
                10148,
                f"OrderId {order.order_id} that needs to be modified cannot be modified, state: {order.status}.",
            )
        order.qty, order.lmt, order.aux = req.qty, req.lmt, req.aux
        order.order_ref, order.tif = req.order_ref, req.tif
        if order.order_type != req.order_type:
            order.order_type, order.triggered = req.order_type, False
        if order.staged and req.transmit:
            self._transmit(order)
            return None
        self.notify("order", order)
        self._match(order)
        return None

    def cancel(self, client_id: int, order_id: int) -> Refusal | None:
        order = self.orders.get((client_id, order_id))
        if order is None:
            return Refusal(135, f"Can't find order with id ={order_id}")
        if not (order.is_open or order.staged):
            return Refusal(
                161,
                f"Cancel attempted when order is not in a cancellable state. Order permId ={order.perm_id}",
            )
        self._cancel(order)
        return None

    def _cancel(self, order: FakeOrder) -> None:
        order.status, order.staged = "Cancelled", False
        self._complete(order, "Cancelled by Trader")
        self.notify("order", order)
        for child in self._children(order):
            if child.is_open or child.staged:
                self._cancel(child)

    def _children(self, order: FakeOrder) -> list[FakeOrder]:
        return [
            o
            for o in self.orders.values()
            if o.client_id == order.client_id and o.parent_id == order.order_id
        ]

    def _complete(self, order: FakeOrder, status: str) -> None:
        order.completed_status = status
        order.completed_time = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")

    # -- matching --------------------------------------------------------------------------
    def _working(self, order: FakeOrder) -> bool:
        if not order.is_open or order.staged:
            return False
        if order.parent_id:
            parent = self.orders.get((order.client_id, order.parent_id))
            return parent is not None and parent.status == "Filled"
        return True

    def _reached(self, order: FakeOrder, price: float) -> bool:
        buy = order.action == "BUY"
        if order.order_type == "MKT":
            return not order.waits
        if order.order_type in ("STP", "STP LMT") and not order.triggered:
            assert order.aux is not None
            if not (price >= order.aux if buy else price <= order.aux):
                return False
            order.triggered = True
            if order.order_type == "STP":
                return True
        if order.order_type in ("LMT", "STP LMT"):
            assert order.lmt is not None
            return price <= order.lmt if buy else price >= order.lmt
        return order.order_type == "STP"

    def _match(self, order: FakeOrder) -> None:
        price = self.prices.get(order.instrument.symbol)
        if price is None or not self._working(order) or not self._reached(order, price):
            return
        parts = max(1, min(self.partial_fills, int(order.remaining)))
        size = int(order.remaining) // parts
        sizes = [size] * (parts - 1) + [order.remaining - size * (parts - 1)]
        for n, qty in enumerate(sizes, start=1):
            self.schedule(self.fill_delay * n, partial(self._fill_if_working, order, qty))

    def _fill_if_working(self, order: FakeOrder, qty: float) -> None:
        price = self.prices.get(order.instrument.symbol)
        if price is not None and self._working(order):
            self.execute(order, min(qty, order.remaining), price)

    def execute(self, order: FakeOrder, qty: float, price: float) -> FakeExecution:
        """Fill ``qty`` of ``order`` at ``price`` whatever its terms (the tests' ``fill``)."""
        order.filled += qty
        order.cost += qty * price
        order.last_fill_price = price
        commission = commission_for(qty)
        execution = FakeExecution(
            exec_id=f"0000e0d5.{next(self._exec_ids):08x}.01.01",
            order=order,
            time=datetime.now(UTC).replace(microsecond=0),
            shares=qty,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_price,
            commission=commission,
        )
        self.executions.append(execution)
        inst = order.instrument
        _, held, cost = self.positions.get(inst.con_id, (inst, 0.0, 0.0))
        signed = order.sign * qty
        new_qty = held + signed
        new_cost = (
            0.0
            if new_qty == 0
            else (cost + signed * price if held * signed >= 0 else cost * new_qty / held)
        )
        self.positions[inst.con_id] = (inst, new_qty, new_cost)
        self.cash -= signed * price + commission
        if order.remaining <= 0:
            order.status = "Filled"
            self._complete(order, "Filled")
        self.notify("execution", execution)
        self.notify("order", order)
        self._cancel_siblings(order)
        if order.status == "Filled":
            for child in self._children(order):
                self._match(child)
        return execution

    def _cancel_siblings(self, order: FakeOrder) -> None:
        """A fill cancels the rest of its OCA group, and a bracket child's sibling."""
        for other in list(self.orders.values()):
            if other is order or not (other.is_open or other.staged):
                continue
            same_oca = bool(order.oca_group) and other.oca_group == order.oca_group
            siblings = (
                order.parent_id != 0
                and other.parent_id == order.parent_id
                and other.client_id == order.client_id
            )
            if same_oca or siblings:
                self._cancel(other)

    # -- lookups ---------------------------------------------------------------------------
    def open_orders(self, client_id: int) -> list[FakeOrder]:
        return [
            o for o in self.orders.values() if o.client_id == client_id and (o.is_open or o.staged)
        ]

    def all_open_orders(self) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.is_open or o.staged]

    def completed_orders(self) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.completed_status]

    def order_by_ref(self, order_ref: str) -> FakeOrder | None:
        for order in self.orders.values():
            if order.order_ref == order_ref:
                return order
        return None

    def executions_since(
        self, client_id: int, account: str, since: datetime | None, symbol: str, side: str
    ) -> list[FakeExecution]:
        return [
            e
            for e in self.executions
            if (not client_id or e.order.client_id == client_id)
            and (not account or e.order.account == account)
            and (since is None or e.time >= since)
            and (not symbol or e.order.instrument.symbol == symbol)
            and (not side or ("BOT" if e.order.action == "BUY" else "SLD") == side)
        ]
