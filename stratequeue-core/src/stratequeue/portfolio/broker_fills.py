"""Fills from a real broker: sizes sent as quantities, each strategy's book reconciled with
the fills the broker reports.

An order's fill is split over its legs (the strategies it nets) in proportion to their sizes
and booked into each book (``StrategyRunner.apply_fill``); the SL/TP orders that creates go out
next. A bracket's leg and an OCO exit fill under ``<cid>/sl`` / ``<cid>/tp``. An order whose
answer was lost (UNKNOWN) or that could not be sent (PENDING) is asked about at every bar
until the broker has it or has ruled it out. Netted orders that cancel out are crossed inside
the account at the last price (:func:`cross`): nothing goes to the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..ledger import Allocation
from ..models import Bar, BrokerOrder, Fill, OrderIntent, OrderStatus, OrderType, Side
from . import brackets, broker_orders, exits, routing
from .events import Event, FillEvent
from .reconcile import EXTERNAL
from .sizing import broker_qty
from .state import Actions, Sleeve, order_from_row, pending_refs, real_status, record_trade

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["BrokerFills"]

log = logging.getLogger(__name__)


class BrokerFills:
    """The fill model of a broker that reports real fills (Alpaca, ...)."""

    #: fills are the broker's reports; the books follow them
    real = True

    def __init__(self, portfolio: Portfolio) -> None:
        self.p = portfolio

    # -- the bar ----------------------------------------------------------------------------
    def before_bar(self, when: datetime) -> list[Event]:
        """Orders in doubt are looked up, then the broker's new fills are applied."""
        events: list[Event] = []
        if self.p.unsure:
            events += self._resolve_unsure(when)
        return events + self.poll(when)

    def after_step(
        self, bar: Bar, steps: Sequence[tuple[Sleeve, Any]], actions: Actions
    ) -> list[Event]:
        return []  # the books' own executions are not fills: the broker's are

    def _resolve_unsure(self, when: datetime) -> list[Event]:
        """Orders whose state was unknown: the broker has them (tracked from now on), or has
        ruled them out (sent again under the same client order id, which it cannot place
        twice), or still cannot say (asked again at the next bar)."""
        p = self.p
        events: list[Event] = []
        assert p.broker is not None
        for cid in sorted(p.unsure):
            row = p.ledger.order(cid)
            if row is None or not OrderStatus(row["status"]).is_open:
                p.unsure.discard(cid)
                continue
            try:
                ack = p.broker.get_order(cid)
            except Exception as exc:  # the broker cannot say right now
                log.warning("Order %s: state still unknown (%s)", cid, type(exc).__name__)
                continue
            if ack is None:
                log.warning("Order %s: the broker does not have it; sending it again", cid)
                with p.ledger.transaction():
                    events += routing.send(p, order_from_row(row), when)
                continue
            p.unsure.discard(cid)
            with p.ledger.transaction():
                p.ledger.update_order(
                    cid,
                    real_status(ack.status),
                    event="state found",
                    message=ack.message,
                    broker_order_id=ack.broker_order_id or None,
                )
        return events

    # -- orders -----------------------------------------------------------------------------
    def route_exit(
        self,
        sleeve: Sleeve,
        intent: OrderIntent,
        netted: dict[str, list[tuple[Sleeve, OrderIntent]]],
        exits: dict[tuple[str, str, str], list[tuple[Sleeve, OrderIntent]]],
        actions: Actions,
    ) -> bool:
        return broker_orders.route_exit(self.p, sleeve, intent, netted, exits, actions)

    def withdraw(self, sleeve: Sleeve, ref: str, actions: Actions) -> None:
        broker_orders.cancel_leg(self.p, sleeve, ref, actions)

    def reprice(self, sleeve: Sleeve, ref: str, actions: Actions) -> None:
        broker_orders.replace_leg(self.p, sleeve, ref, actions)

    def size(
        self, group: Sequence[tuple[Sleeve, OrderIntent]]
    ) -> tuple[float | None, Side, list[float]]:
        """The quantity to send (sizing.py); fractions sent as whole units stay units."""
        signed = [broker_qty(s, i, self.p.last_price.get(s.symbol)) for s, i in group]
        self._hold_as_units(group, signed)
        net = sum(signed)
        return abs(net), Side.BUY if net > 0 else Side.SELL, signed

    def _hold_as_units(
        self, group: Sequence[tuple[Sleeve, OrderIntent]], signed: Sequence[float]
    ) -> None:
        """Fraction orders sent as whole units stay in their books as those units (recorded,
        so that a rebuilt book does the same)."""
        from ..engine.flatten import set_units

        for (sleeve, intent), qty in zip(group, signed, strict=True):
            if intent.is_fraction and set_units(sleeve.runner, intent.ref, qty):
                self.p.ledger.add_sleeve_event(
                    sleeve.strategy_id,
                    sleeve.symbol,
                    self.p.last_time.get(sleeve.symbol),
                    "units",
                    qty,
                    intent.ref,
                )

    def send(self, order: BrokerOrder, when: datetime) -> list[Event]:
        """Submit (or cross inside the account when nothing is left to send); a rejected
        order leaves its books, so the strategy does not see it as pending."""
        if not order.qty:
            return self._cross(order, when)
        reject, rejected = routing.submit(self.p, order, when)
        if reject is None:
            return []
        for sleeve, ref in rejected.legs if rejected is not None else []:
            if ref in pending_refs(sleeve.runner):
                sleeve.runner.cancel_order(ref, f"rejected: {reject.message}")
        return [reject]

    def ledger_status(self, status: OrderStatus) -> OrderStatus:
        return real_status(status)

    def settle(self, actions: Actions) -> None:
        """Nothing to book: the broker's fills arrive on their own."""

    # -- fills ------------------------------------------------------------------------------
    def poll(self, before: datetime | None) -> list[Event]:
        """Take the broker's new fills and apply each to the strategies whose order it fills."""
        p = self.p
        if p.broker is None:
            return []
        events: list[Event] = []
        fills = p.broker.poll_fills()
        batch = {f.client_order_id for f in fills}
        fills = sorted(fills, key=lambda f: not self._stops_a_trade(f, batch))
        for fill in fills:
            events += self.real_fill(fill, before or p.after_last_bar(fill.symbol))
        return events

    def _stops_a_trade(self, fill: Fill, batch: set[str]) -> bool:
        """A fill of a trade's stop-loss or of a ``Trade.close()`` order. Fills that arrive
        together (``batch``: their client order ids) are applied these first, as backtesting.py
        queues such orders first: applied after an opposite entry filled in the same bar, the
        entry would net against the trade (FIFO) and the stop-loss fill would find its trade
        already reduced. Not a bracket's stop-loss whose entry fills in the same batch: its
        trade opens with that fill, so it stays after it."""
        cid, _, leg = fill.client_order_id.partition("/")
        if leg:
            return leg == "sl" and cid not in batch
        row = self.p.ledger.db.execute(
            "SELECT 1 FROM intents WHERE client_order_id=? AND action='new' AND parent_ref "
            "IS NOT NULL AND order_type IN (?, ?)",
            (cid, OrderType.STOP.value, OrderType.MARKET.value),
        ).fetchone()
        return row is not None

    def real_fill(self, fill: Fill, before: datetime) -> list[Event]:
        """Book one of the broker's fills (once: by execution id, or by the order's cumulative
        quantity) into the ledger and the books of the strategies its order nets."""
        p = self.p
        if p.ledger.has_execution(fill.execution_id):
            return []
        if fill.cum_qty is not None:
            # One execution reported twice under two names (the stream and the executions
            # list, or the runs before and after a restart): the order's cumulative quantity
            # says what is new.
            fresh = fill.cum_qty - p.ledger.filled_qty(fill.client_order_id)
            if fresh <= 1e-9:
                log.debug("fill %s: already booked up to %g", fill.execution_id, fill.cum_qty)
                return []
            if fresh < fill.qty - 1e-9:
                fill = replace(fill, qty=round(fresh, 9))
        log.debug(
            "fill %s %s %s %s @ %s (%s)",
            fill.client_order_id,
            fill.symbol,
            fill.side.value,
            fill.qty,
            fill.price,
            fill.execution_id,
        )
        cid, leg_kind = fill.client_order_id, ""
        row = p.ledger.order(cid)  # a bracket's leg is an order of its own ("<cid>/sl")
        if row is None:  # an OCO exit fills one of its legs: "<cid>/tp" (limit), "<cid>/sl"
            cid, _, leg_kind = fill.client_order_id.partition("/")
            row = p.ledger.order(cid)
        events: list[Event] = []
        actions = Actions()
        journal = p.executor.journal() if p.executor is not None else nullcontext()
        with p.ledger.transaction(), journal:  # a lost worker gets this fill's parts again
            if row is None:  # not ours: somebody else traded this account
                p.ledger.record_fill(
                    fill, [Allocation(EXTERNAL, fill.symbol, "", fill.signed_qty, fill.price)]
                )
                return [
                    FillEvent(
                        fill.symbol,
                        fill.timestamp,
                        fill.side.value.upper(),
                        fill.qty,
                        fill.price,
                        fill.client_order_id,
                        ((EXTERNAL, fill.signed_qty),),
                    )
                ]
            total = float(row["qty"] or 0.0)
            ratio = fill.qty / total if total else 0.0
            filled = float(row["filled_qty"] or 0.0) + fill.qty
            done = filled >= total - 1e-9
            if done:  # before the books react: an OCO sibling they cancel is gone at the broker too
                p.open_orders.pop(cid, None)
                brackets.free_sibling(p, cid)
            by_key = {(s.strategy_id, s.symbol): s for s in p.all_sleeves()}
            allocations, parts = [], []
            legs = p.ledger.legs(cid)
            if leg_kind:
                wanted = OrderType.STOP.value if leg_kind == "sl" else OrderType.LIMIT.value
                legs = [g for g in legs if self._leg_type(g, row["symbol"]) == wanted]
            for leg in legs:
                sleeve = by_key.get((leg["strategy_id"], row["symbol"]))
                qty = float(leg["size"]) * ratio
                allocations.append(
                    Allocation(
                        leg["strategy_id"],
                        row["symbol"],
                        leg["ref"],
                        qty,
                        fill.price,
                        fill.commission * abs(qty) / fill.qty,
                    )
                )
                parts.append((leg["strategy_id"], qty))
                if sleeve is not None and qty:
                    self._apply_real(sleeve, leg["ref"], qty, fill, events, actions)
            p.ledger.record_fill(fill, allocations, applied_before=before)
            status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
            p.ledger.update_order(cid, status, event="fill", filled_qty=filled)
        events.insert(
            0,
            FillEvent(
                fill.symbol,
                fill.timestamp,
                fill.side.value.upper(),
                fill.qty,
                fill.price,
                fill.client_order_id,
                tuple(parts),
            ),
        )
        return events + routing.apply(p, actions, fill.timestamp)

    def _leg_type(self, leg: dict[str, Any], symbol: str) -> str | None:
        row = self.p.ledger.db.execute(
            "SELECT order_type FROM intents WHERE strategy_id=? AND symbol=? AND ref=? "
            "AND action='new'",
            (leg["strategy_id"], symbol, leg["ref"]),
        ).fetchone()
        return str(row[0]) if row else None

    def _apply_real(
        self,
        sleeve: Sleeve,
        ref: str,
        qty: float,
        fill: Fill,
        events: list[Event],
        actions: Actions,
    ) -> None:
        """Book a real fill into the strategy's book; the SL/TP orders it creates go out next."""
        if ref not in pending_refs(sleeve.runner):
            log.warning(
                "%s: fill %s for order %s, which its book no longer holds; the ledger "
                "keeps it and the next start reconciles.",
                sleeve.strategy_id,
                fill.execution_id,
                ref,
            )
            return
        result = sleeve.runner.apply_fill(ref, abs(qty), fill.price, fill.timestamp)
        for execution in result.executions:
            record_trade(self.p.ledger, sleeve, execution)
        routing.intents(self.p, [(sleeve, i) for i in result.intents], events, actions)

    def _cross(self, order: BrokerOrder, when: datetime) -> list[Event]:
        """Opposite orders of one bar that cancel out: each strategy is filled at the last
        price inside the account; nothing goes to the broker."""
        p = self.p
        price = p.last_price.get(order.symbol, 0.0)
        fill = Fill(
            order.client_order_id,
            order.symbol,
            order.side,
            0.0,
            price,
            when,
            0.0,
            f"{order.client_order_id}-crossed",
        )
        events: list[Event] = []
        actions = Actions()
        by_key = {(s.strategy_id, s.symbol): s for s in p.all_sleeves()}
        with p.ledger.transaction():
            allocations = []
            for leg in p.ledger.legs(order.client_order_id):
                allocations.append(
                    Allocation(leg["strategy_id"], order.symbol, leg["ref"], leg["size"], price)
                )
                sleeve = by_key.get((leg["strategy_id"], order.symbol))
                if sleeve is None:
                    continue
                if leg["size"]:
                    self._apply_real(sleeve, leg["ref"], leg["size"], fill, events, actions)
                elif leg["ref"] in pending_refs(sleeve.runner):
                    sleeve.runner.cancel_order(
                        leg["ref"], "too small for one unit at the last price"
                    )
            # Applied right after the bar that made it: a rebuild replays it before the next bar.
            p.ledger.record_fill(fill, allocations, applied_before=p.after_last_bar(order.symbol))
            p.ledger.update_order(
                order.client_order_id, OrderStatus.FILLED, event="crossed inside the account"
            )
            p.open_orders.pop(order.client_order_id, None)
        return events + routing.apply(p, actions, when)

    # -- the end of a run -------------------------------------------------------------------
    def end_order(self, cid: str, actions: Actions) -> None:
        """``--on-exit cancel``: the order is canceled at the broker."""
        actions.cancels.append(cid)

    def flatten(self) -> list[Event]:
        return exits.flatten_by_orders(self.p)
