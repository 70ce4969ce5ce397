"""The portfolio: each strategy's capital and book, netting, attribution, orders to the broker.

Every (strategy, symbol) pair is a *sleeve*: one runner whose backtesting.py book holds that
strategy's capital for that symbol. Per bar the portfolio

1. steps every sleeve of the bar's symbol (the book fills what it would fill in a backtest,
   then the strategy's ``next()`` runs);
2. turns the books' executions into fills: with a broker that fills at book prices (the paper
   broker) each order's executions are netted into one fill at their average price and
   attributed back to each strategy at its own price;
3. turns new intents into broker orders: market orders of several strategies on one symbol in
   one bar become ONE netted order (opposite intents cross inside it); limit, stop and SL/TP
   orders are sent one by one.

Write-ahead: everything a bar decides is committed to the ledger in one transaction FIRST;
only then is the broker told (orders sent, fills booked). A crash before the commit loses
the bar and nothing else; a crash after it is completed by :meth:`Portfolio.reconcile` on the
next start, with the same client order ids and execution ids, so nothing happens twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..brokers.base import BaseBroker, BookPricedBroker
from ..ledger import Allocation, Ledger
from ..logs import BAR_LOGGER
from ..models import (
    Bar,
    BrokerOrder,
    Fill,
    IntentAction,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    utc,
)
from . import brackets
from .events import Event, FillEvent, RejectEvent, SignalEvent
from .external import external_qty
from .ids import client_order_id, netted_order_id
from .reconcile import EXTERNAL, ReconciliationError

__all__ = ["EXTERNAL", "Portfolio", "ReconciliationError", "Sleeve"]

log = logging.getLogger(__name__)
bar_log = logging.getLogger(BAR_LOGGER)  # every bar's line: DEBUG with --verbose only

#: The execution id suffix of a trade adopted from a replay's warm-up.
_ADOPTED = "-adopted"


@dataclass
class Sleeve:
    """One strategy on one symbol: its runner (book) and its orders at the broker."""

    spec: Any  # StrategySpec
    symbol: str
    runner: Any  # stratequeue.engine.StrategyRunner
    capital: float
    cids: dict[str, str] = field(default_factory=dict)  # order ref -> client order id
    closed_before: int = 0  # trades the book closed during its warm-up (not real)

    @property
    def strategy_id(self) -> str:
        return str(self.spec.strategy_id)


@dataclass
class _OpenOrder:
    cid: str
    symbol: str
    legs: list[tuple[Sleeve, str]]  # (sleeve, order ref)


@dataclass
class _ExitStep:
    """Executions made outside a bar (flattening at exit), shaped like a runner's BarStep."""

    executions: list[Any]
    intents: list[OrderIntent] = field(default_factory=list)


@dataclass
class _BookFill:
    """A fill decided by the books, committed to the ledger, to be booked at the broker."""

    fill: Fill
    signed_qty: float
    cash_flow: float


@dataclass
class _Actions:
    """What the broker must be told once the bar's ledger transaction has committed."""

    orders: list[BrokerOrder] = field(default_factory=list)
    fills: list[_BookFill] = field(default_factory=list)
    finished: list[tuple[str, bool]] = field(default_factory=list)  # (cid, filled)
    cancels: list[str] = field(default_factory=list)  # cids to cancel at the broker
    #: (cid, limit, stop): working orders to replace at the broker with new prices
    replaces: list[tuple[str, float | None, float | None]] = field(default_factory=list)


class Portfolio:
    def __init__(self, *, ledger: Ledger, broker: BaseBroker | None, run_id: int) -> None:
        self.ledger = ledger
        self.broker = broker
        self.run_id = run_id
        self.ledger_id = ledger.ledger_id
        self.sleeves: dict[str, list[Sleeve]] = defaultdict(list)
        #: the same sleeves by strategy: a bar's snapshot reads its strategies' sleeves only
        self._by_strategy: dict[str, list[Sleeve]] = defaultdict(list)
        self.open_orders: dict[str, _OpenOrder] = {}
        self.last_price: dict[str, float] = {}
        #: A broker that reports real fills: sizes are converted at submission and each
        #: strategy's book is reconciled with the fills (see external.py).
        self.external = broker is not None and not isinstance(broker, BookPricedBroker)
        self.risk: Any = None  # stratequeue.risk.RiskGuard, when limits are configured
        self.paused: set[str] = set()  # symbols whose feed went stale: no new orders
        self.alerts: list[str] = []  # kill switches and pauses, for the display
        self.last_time: dict[str, datetime] = {}
        self._risk_state = ""
        #: orders sent whose answer was lost (UNKNOWN) or that could not be sent (PENDING):
        #: looked up at every bar until the broker has them or has ruled them out
        self.unsure: set[str] = set()

    # -- set-up -------------------------------------------------------------------------------
    def add(self, sleeve: Sleeve) -> None:
        self.sleeves[sleeve.symbol].append(sleeve)
        self._by_strategy[sleeve.strategy_id].append(sleeve)

    def all_sleeves(self) -> list[Sleeve]:
        return [s for group in self.sleeves.values() for s in group]

    def strategy_ids(self) -> list[str]:
        return list(dict.fromkeys(s.strategy_id for s in self.all_sleeves()))

    # -- the per-bar pipeline -------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> list[Event]:
        sleeves = self.sleeves.get(bar.symbol, [])
        if not sleeves:
            return []
        events: list[Event] = []
        if self.external:
            if self.unsure:
                events += self._resolve_unsure(bar.timestamp)
            events += self.poll_fills(bar.timestamp)
        self.last_price[bar.symbol] = bar.close
        self.last_time[bar.symbol] = bar.timestamp
        if bar_log.isEnabledFor(logging.DEBUG):
            bar_log.debug(
                "bar %s %s O=%s H=%s L=%s C=%s V=%s",
                bar.symbol,
                bar.timestamp.isoformat(),
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                bar.volume,
            )
        steps = [(sleeve, sleeve.runner.on_bar(bar)) for sleeve in sleeves]
        actions = _Actions()
        with self.ledger.transaction():
            self.ledger.record_bar(bar)
            if not self.external:
                events += self._executions(bar, steps, actions)
                self._close_finished(bar.symbol, actions)
            self._intents([(s, i) for s, step in steps for i in step.intents], events, actions)
            self._snapshot(bar.timestamp, sleeves)
            self._watch_risk(bar.timestamp, sleeves)
        events += self._apply(actions, bar.timestamp)
        return events

    def start(self, sleeves_intents: Iterable[tuple[Sleeve, Sequence[OrderIntent]]]) -> list[Event]:
        """Send the orders strategies had pending when their warm-up ended."""
        events: list[Event] = []
        actions = _Actions()
        with self.ledger.transaction():
            self._intents(
                [(s, i) for s, intents in sleeves_intents for i in intents], events, actions
            )
        events += self._apply(actions, datetime.now(UTC))
        return events

    def adopt(self, sleeve: Sleeve, trades: Sequence[Any]) -> None:
        """Record trades a warm-started strategy holds from its history, as of their entry, so a
        replay's account matches the strategy's book. Only the ledger is written: like any
        committed order and fill, :meth:`reconcile` takes them to the (paper) account, in ledger
        order, also after a crash in between. Live runs never do this: no order is placed for
        the past."""
        from ..engine.book import ref_of

        with self.ledger.transaction():
            for trade in trades:
                trade_ref = ref_of(trade) or f"bar{trade.entry_bar}"
                ref = f"adopted-{trade_ref}"
                cid = client_order_id(self.ledger_id, sleeve.strategy_id, sleeve.symbol, ref)
                side = Side.BUY if trade.size > 0 else Side.SELL
                order = BrokerOrder(cid, sleeve.symbol, side, None)
                self.ledger.record_order(
                    self.run_id, order, [(sleeve.strategy_id, ref, trade.size)]
                )
                entry_time = _utc(trade.entry_time)
                fill = Fill(
                    cid,
                    sleeve.symbol,
                    side,
                    abs(trade.size),
                    trade.entry_price,
                    entry_time,
                    0.0,
                    cid + _ADOPTED,
                )
                self.ledger.record_fill(
                    fill,
                    [
                        Allocation(
                            sleeve.strategy_id, sleeve.symbol, ref, trade.size, trade.entry_price
                        )
                    ],
                )
                self.ledger.update_order(cid, OrderStatus.FILLED, event="adopted from warm-up")
                self.ledger.open_trade(
                    sleeve.strategy_id,
                    sleeve.symbol,
                    trade_ref,
                    trade.size,
                    trade.entry_bar,
                    trade.entry_price,
                    entry_time,
                    trade.sl,
                    trade.tp,
                    trade.tag,
                )

    # -- executions -> fills ------------------------------------------------------------------
    def _executions(
        self, bar: Bar, steps: Sequence[tuple[Sleeve, Any]], actions: _Actions
    ) -> list[Event]:
        by_cid: dict[str, list[tuple[Sleeve, Any]]] = defaultdict(list)
        for sleeve, step in steps:
            for execution in step.executions:
                self._record_trade(sleeve, execution)
                cid = sleeve.cids.get(execution.order_ref)
                if cid is None:
                    cid = self._book_initiated_order(sleeve, execution, actions)
                by_cid[cid].append((sleeve, execution))
        return [self._fill(bar, cid, items, actions) for cid, items in by_cid.items()]

    def _book_initiated_order(self, sleeve: Sleeve, execution: Any, actions: _Actions) -> str:
        """An order the book created and filled within one bar (an SL hit on its entry bar, a
        liquidation): recorded like any other order, before its fill."""
        cid = client_order_id(
            self.ledger_id, sleeve.strategy_id, sleeve.symbol, execution.order_ref
        )
        side = Side.BUY if execution.fill_qty > 0 else Side.SELL
        order = BrokerOrder(cid, sleeve.symbol, side, None, OrderType.MARKET)
        self.ledger.record_order(
            self.run_id, order, [(sleeve.strategy_id, execution.order_ref, execution.fill_qty)]
        )
        sleeve.cids[execution.order_ref] = cid
        self.open_orders[cid] = _OpenOrder(cid, sleeve.symbol, [(sleeve, execution.order_ref)])
        actions.orders.append(order)
        return cid

    def _fill(
        self, bar: Bar, cid: str, items: list[tuple[Sleeve, Any]], actions: _Actions
    ) -> Event:
        net = sum(e.fill_qty for _, e in items)
        flow = sum(e.fill_qty * e.price for _, e in items)
        commission = sum(e.commission for _, e in items)
        price = flow / net if abs(net) > 1e-12 else items[0][1].price
        side = Side.BUY if net > 0 else Side.SELL
        strategies = tuple((s.strategy_id, e.fill_qty) for s, e in items)
        event = FillEvent(
            bar.symbol,
            bar.timestamp,
            side.value.upper(),
            abs(net),
            price,
            cid,
            strategies,
            hypothetical=self.broker is None,
        )
        if self.broker is None:
            return event
        log.debug(
            "book fill %s %s net=%s @ %s (%s)",
            cid,
            bar.symbol,
            net,
            price,
            ", ".join(f"{s.strategy_id} {e.fill_qty:+g}@{e.price}" for s, e in items),
        )
        fill = Fill(
            cid,
            bar.symbol,
            side,
            abs(net),
            price,
            bar.timestamp,
            commission,
            f"{cid}-{bar.timestamp:%Y%m%dT%H%M%S}",
        )
        allocations = [
            Allocation(s.strategy_id, s.symbol, e.order_ref, e.fill_qty, e.price, e.commission)
            for s, e in items
        ]
        self.ledger.record_fill(fill, allocations)
        actions.fills.append(_BookFill(fill, net, flow + commission))
        return event

    def _record_trade(self, sleeve: Sleeve, e: Any) -> None:
        if e.kind == "open":
            self.ledger.open_trade(
                sleeve.strategy_id,
                sleeve.symbol,
                e.trade_ref,
                e.size,
                e.bar_index,
                e.price,
                e.time,
                e.sl,
                e.tp,
                e.tag,
            )
        else:
            self.ledger.close_trade(
                sleeve.strategy_id,
                sleeve.symbol,
                e.trade_ref,
                size=e.size,
                entry_bar=e.entry_bar,
                exit_bar=e.bar_index,
                entry_price=e.entry_price,
                exit_price=e.price,
                sl=e.sl,
                tp=e.tp,
                pnl=e.pnl,
                commission=e.trade_commission,
                return_pct=e.return_pct,
                entry_time=e.entry_time,
                exit_time=e.time,
                tag=e.tag,
            )

    def _close_finished(self, symbol: str, actions: _Actions) -> None:
        """Orders of this symbol whose every leg has left its book are done."""
        for cid, open_order in list(self.open_orders.items()):
            if open_order.symbol != symbol:
                continue
            if any(ref in _pending_refs(s.runner) for s, ref in open_order.legs):
                continue
            filled = self.ledger.db.execute(
                "SELECT COUNT(*) FROM fills WHERE client_order_id=?", (cid,)
            ).fetchone()[0] > 0 or any(f.fill.client_order_id == cid for f in actions.fills)
            status = OrderStatus.FILLED if filled else OrderStatus.CANCELED
            self.ledger.update_order(cid, status, event=status.value)
            actions.finished.append((cid, filled))
            del self.open_orders[cid]

    # -- intents -> orders --------------------------------------------------------------------
    def _intents(
        self, pairs: Sequence[tuple[Sleeve, OrderIntent]], events: list[Event], actions: _Actions
    ) -> None:
        netted: dict[str, list[tuple[Sleeve, OrderIntent]]] = defaultdict(list)
        exits: dict[tuple[str, str, str], list[tuple[Sleeve, OrderIntent]]] = defaultdict(list)
        for sleeve, intent in pairs:
            if intent.action is IntentAction.NEW:
                events.append(self._signal(sleeve, intent))
                rule = self._refused_by(sleeve, intent)
                if rule is not None:
                    events.append(self._refuse(sleeve, intent, rule))
                    continue
                if (
                    intent.order_type is OrderType.MARKET
                    and intent.parent_ref is None
                    and brackets.bracket_class(self, sleeve, intent) is None
                ):
                    netted[sleeve.symbol].append((sleeve, intent))
                    continue
                if (
                    self.external
                    and intent.parent_ref is not None
                    and intent.order_type in (OrderType.STOP, OrderType.LIMIT)
                ):  # a trade's SL / TP: a leg of its entry's bracket, or paired into one OCO
                    if not brackets.map_leg(self, sleeve, intent):
                        exits[(sleeve.strategy_id, sleeve.symbol, intent.parent_ref)].append(
                            (sleeve, intent)
                        )
                    continue
                if self.external and intent.parent_ref is not None:  # Trade.close()
                    if self._close_is_covered(sleeve, intent):
                        continue
                    self._withdraw_exits(sleeve, intent.parent_ref, actions)
                    if intent.order_type is OrderType.MARKET:
                        # netted with the bar's other market orders: a close and a reversal
                        # are one order (a broker refuses a second sell of shares that a
                        # working sell already holds)
                        netted[sleeve.symbol].append((sleeve, intent))
                        continue
                cid = client_order_id(self.ledger_id, sleeve.strategy_id, sleeve.symbol, intent.ref)
                self.ledger.record_intent(self.run_id, intent, cid)
                actions.orders.append(self._order(cid, [(sleeve, intent)]))
            elif intent.action is IntentAction.CANCEL:
                self.ledger.record_intent(self.run_id, intent, sleeve.cids.get(intent.ref))
                events.append(self._signal(sleeve, intent))
                if self.external:
                    self._cancel_leg(sleeve, intent.ref, actions)
            else:  # REPLACE: the book changed a pending order's prices (trade.sl / trade.tp)
                self.ledger.record_intent(self.run_id, intent, sleeve.cids.get(intent.ref))
                if self.external:
                    self._replace_leg(sleeve, intent.ref, actions)
        for symbol, group in netted.items():
            group.sort(key=lambda pair: pair[1].parent_ref is None)  # closes first, as in a book
            legs = [(s.strategy_id, i.ref) for s, i in group]
            cid = (
                client_order_id(self.ledger_id, group[0][0].strategy_id, symbol, group[0][1].ref)
                if len(group) == 1
                else netted_order_id(self.ledger_id, symbol, legs)
            )
            for _sleeve, intent in group:
                self.ledger.record_intent(self.run_id, intent, cid)
            actions.orders.append(self._order(cid, group))
        for group in exits.values():
            sleeve, first = group[0]
            cid = client_order_id(self.ledger_id, sleeve.strategy_id, sleeve.symbol, first.ref)
            for _sleeve, intent in group:
                self.ledger.record_intent(self.run_id, intent, cid)
            actions.orders.append(self._order(cid, group))

    def _hold_as_units(
        self, group: Sequence[tuple[Sleeve, OrderIntent]], signed: Sequence[float]
    ) -> None:
        """Fraction orders sent as whole units stay in their books as those units (recorded,
        so that a rebuilt book does the same)."""
        from ..engine.flatten import set_units

        for (sleeve, intent), qty in zip(group, signed, strict=True):
            if intent.is_fraction and abs(qty) >= 1 and set_units(sleeve.runner, intent.ref, qty):
                self.ledger.add_sleeve_event(
                    sleeve.strategy_id,
                    sleeve.symbol,
                    self.last_time.get(sleeve.symbol),
                    "units",
                    qty,
                    intent.ref,
                )

    def _close_is_covered(self, sleeve: Sleeve, intent: OrderIntent) -> bool:
        """A strategy closes a trade again (``position.close()`` on every bar) while its first
        close order is still working at the broker, unfilled or unseen: in a backtest the
        first close fills at the next open and the second finds the trade closed and does
        nothing; at a real broker both would sell. The new close is dropped from the book
        (recorded, so a rebuild drops it too) and nothing is sent. Partial closes that do not
        yet cover the trade still go out."""
        from ..engine.book import ref_of
        from ..engine.flatten import drop_order

        trade = next((t for t in sleeve.runner.open_trades if ref_of(t) == intent.parent_ref), None)
        if trade is None:
            return False
        working = [
            order
            for order in sleeve.runner.orders
            if order.parent_trade is trade
            and not order.is_contingent
            and ref_of(order) != intent.ref
            and sleeve.cids.get(ref_of(order) or "") in self.open_orders
        ]
        if sum(abs(order.size) for order in working) < abs(trade.size):
            return False
        self.ledger.record_intent(self.run_id, intent, None)
        drop_order(sleeve.runner, intent.ref)
        self.ledger.add_sleeve_event(
            sleeve.strategy_id, sleeve.symbol, intent.bar_time, "refuse", ref=intent.ref
        )
        log.info(
            "%s %s: close of trade %s already working at the broker as %s; not sent again",
            sleeve.strategy_id,
            sleeve.symbol,
            intent.parent_ref,
            sleeve.cids.get(ref_of(working[0]) or ""),
        )
        return True

    def _withdraw_exits(self, sleeve: Sleeve, trade_ref: str, actions: _Actions) -> None:
        """A strategy closes a trade (``Trade.close()``, ``position.close()``) with a market
        order: the trade's SL/TP exit resting at the broker is canceled before that order is
        sent. Otherwise both can execute in the next bar and the account sells twice, where
        backtesting.py fills the close and drops the trade's SL/TP. The book keeps its SL/TP
        orders until the close fills (it then drops them, as backtesting.py does)."""
        from ..engine.book import ref_of

        for order in sleeve.runner.orders:
            trade = order.parent_trade
            if trade is None or not order.is_contingent or ref_of(trade) != trade_ref:
                continue
            cid = sleeve.cids.get(ref_of(order) or "")
            if cid is not None and self.open_orders.pop(cid, None) is not None:
                actions.cancels.append(cid)  # a bracket's legs: each canceled by its name

    def _cancel_leg(self, sleeve: Sleeve, ref: str, actions: _Actions) -> None:
        """A strategy canceled an order (or its book canceled an OCO sibling): once no leg of
        the broker order is wanted any more, cancel it at the broker."""
        cid = sleeve.cids.get(ref)
        open_order = self.open_orders.get(cid or "")
        if cid is None or open_order is None:
            return  # already filled or closed at the broker
        open_order.legs = [
            (s, r)
            for s, r in open_order.legs
            if not (s is sleeve and r == ref) and r in _pending_refs(s.runner)
        ]
        if not open_order.legs:
            del self.open_orders[cid]
            actions.cancels.append(cid)
        elif self.external and (self.ledger.order(cid) or {}).get("order_class") == "oco":
            # The strategy dropped one exit of its trade (``order.cancel()`` on its TP or SL)
            # and keeps the other: the broker's OCO would still execute the dropped one. It is
            # canceled and the exit still wanted is sent on its own.
            survivor, survivor_ref = open_order.legs[0]
            self._replace_leg(survivor, survivor_ref, actions)

    def _replace_leg(self, sleeve: Sleeve, ref: str, actions: _Actions) -> None:
        """New SL/TP prices: a bracket's leg is replaced at the broker (brackets.py); else cancel
        the broker order holding ``ref`` and send it again with the book's current prices (an
        OCO is sent again as a pair), under a new client order id."""
        cid = sleeve.cids.get(ref)
        if cid is None or cid not in self.open_orders:
            return
        if any(order.client_order_id == cid for order in actions.orders):
            return  # sent in this batch already, every leg at the book's current prices
        cids = brackets.replace_leg(self, sleeve, ref, actions)
        cids = [cid] if cids is None else cids
        legs = [leg for c in cids for leg in self.open_orders.pop(c).legs]
        actions.cancels += cids
        if not legs:  # replaced in place
            return
        revision = 1 + sum(1 for c in sleeve.cids.values() if c.startswith(cid))
        group = [(s, self._book_intent(s, r)) for s, r in legs]
        new_cid = client_order_id(
            self.ledger_id, sleeve.strategy_id, sleeve.symbol, f"{ref}~{revision}"
        )
        actions.orders.append(self._order(new_cid, [(s, i) for s, i in group if i is not None]))

    def _book_intent(self, sleeve: Sleeve, ref: str) -> OrderIntent | None:
        """The book's pending order ``ref`` as it stands now, as a NEW intent."""
        from ..engine.book import ref_of

        for order in sleeve.runner.orders:
            if ref_of(order) == ref:
                kind = (
                    OrderType.STOP
                    if order.stop is not None
                    else (OrderType.LIMIT if order.limit is not None else OrderType.MARKET)
                )
                return OrderIntent(
                    sleeve.strategy_id,
                    sleeve.symbol,
                    datetime.now(UTC),
                    ref,
                    IntentAction.NEW,
                    order.size,
                    kind,
                    order.limit,
                    order.stop,
                    parent_ref="trade" if order.parent_trade is not None else None,
                )
        return None

    def _order(self, cid: str, group: Sequence[tuple[Sleeve, OrderIntent]]) -> BrokerOrder:
        first = group[0][1]
        if self.external:
            signed = [external_qty(s, i, self.last_price.get(s.symbol)) for s, i in group]
            self._hold_as_units(group, signed)
            net = sum(signed)
            qty: float | None = abs(net)
            side = Side.BUY if net > 0 else Side.SELL
            leg_sizes = signed
        else:
            units = sum(i.size for _, i in group)
            qty, side = None, Side.BUY if units > 0 else Side.SELL
            leg_sizes = [i.size for _, i in group]
        order = BrokerOrder(
            cid,
            first.symbol,
            side,
            qty,
            first.order_type,
            first.limit,
            first.stop,
            time_in_force="gtc" if first.order_type is not OrderType.MARKET else "day",
        )
        order_class = brackets.bracket_class(self, group[0][0], first) if len(group) == 1 else None
        if order_class is not None:  # the entry carries its exits: protected from its first fill
            order = replace(
                order, take_profit=first.tp, stop_loss=first.sl, order_class=order_class
            )
        kinds = {i.order_type for _, i in group}
        if (  # a trade's SL and TP: one OCO exit
            len(group) == 2
            and kinds == {OrderType.STOP, OrderType.LIMIT}
            and all(i.parent_ref is not None for _, i in group)
        ):
            stop = next(i.stop for _, i in group if i.order_type is OrderType.STOP)
            limit = next(i.limit for _, i in group if i.order_type is OrderType.LIMIT)
            order = replace(
                order,
                qty=abs(first.size),
                order_type=OrderType.LIMIT,
                limit_price=limit,
                stop_price=None,
                take_profit=limit,
                stop_loss=stop,
                order_class="oco",
            )
            leg_sizes = [i.size for _, i in group]
        self.ledger.record_order(
            self.run_id,
            order,
            [(s.strategy_id, i.ref, size) for (s, i), size in zip(group, leg_sizes, strict=True)],
        )
        for sleeve, intent in group:
            sleeve.cids[intent.ref] = cid
        self.open_orders[cid] = _OpenOrder(cid, first.symbol, [(s, i.ref) for s, i in group])
        return order

    # -- after the commit: tell the broker ---------------------------------------------------------
    def _apply(self, actions: _Actions, when: datetime) -> list[Event]:
        events: list[Event] = []
        for cid in actions.cancels:
            if self.broker is not None and self.external:
                ack = self.broker.cancel_order(cid)
                self.ledger.update_order(
                    cid, _ledger_status(ack.status, True), event="cancel", message=ack.message
                )
        for cid, limit, stop in actions.replaces:
            if self.broker is not None:
                ack = self.broker.replace_order(cid, cid, limit_price=limit, stop_price=stop)
                row = self.ledger.order(cid)
                self.ledger.update_order(
                    cid,
                    OrderStatus(row["status"]) if row else OrderStatus.ACCEPTED,
                    event="replace" if ack.status.is_open else f"replace {ack.status.value}",
                    message=ack.message
                    or (f"stop {stop}" if stop is not None else f"limit {limit}"),
                    broker_order_id=ack.broker_order_id or None,
                )
        for order in actions.orders:
            events += self._send(order, when)
        broker = self.broker
        # (a runtime-checked Protocol costs ~0.05 ms: asked only when there is work for it)
        if (actions.fills or actions.finished) and isinstance(broker, BookPricedBroker):
            for item in actions.fills:
                f = item.fill
                broker.fill_from_book(
                    f.client_order_id,
                    item.signed_qty,
                    f.price,
                    f.timestamp,
                    f.commission,
                    final=False,
                    execution_id=f.execution_id,
                    cash_flow=item.cash_flow,
                )
            for cid, filled in actions.finished:
                broker.close_book_order(cid, filled=filled)
        return events

    def _send(self, order: BrokerOrder, when: datetime) -> list[Event]:
        """Send one order already committed to the ledger; record the broker's answer."""
        if self.broker is None:
            self.ledger.update_order(
                order.client_order_id, OrderStatus.ACCEPTED, event="signal-only"
            )
            return []
        if self.external and not order.qty:
            return self._cross(order, when)
        ack = self.broker.submit_order(order)
        log.debug(
            "order %s %s %s %s qty=%s limit=%s stop=%s class=%s -> %s %s",
            order.client_order_id,
            order.symbol,
            order.side.value,
            order.order_type.value,
            order.qty,
            order.limit_price,
            order.stop_price,
            order.order_class,
            ack.status.value,
            ack.message,
        )
        current = self.ledger.order(order.client_order_id)
        done = current is not None and not OrderStatus(current["status"]).is_open
        self.ledger.update_order(
            order.client_order_id,
            OrderStatus(current["status"])
            if done and current
            else _ledger_status(ack.status, self.external),
            event="sent",
            message=ack.message,
            broker_order_id=ack.broker_order_id or None,
        )
        if ack.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
            self.unsure.add(order.client_order_id)  # never taken for rejected: it may be held
        else:
            self.unsure.discard(order.client_order_id)
        if ack.status is OrderStatus.REJECTED:
            open_order = self.open_orders.pop(order.client_order_id, None)
            strategies = tuple(s.strategy_id for s, _ in open_order.legs) if open_order else ()
            if self.external and open_order is not None:
                for sleeve, ref in open_order.legs:  # the strategy must not see it as pending
                    if ref in _pending_refs(sleeve.runner):
                        sleeve.runner.cancel_order(ref, f"rejected: {ack.message}")
            return [RejectEvent(order.symbol, when, order.client_order_id, ack.message, strategies)]
        return []

    def _resolve_unsure(self, when: datetime) -> list[Event]:
        """Orders whose state was unknown: the broker has them (tracked from now on), or has
        ruled them out (sent again under the same client order id, which it cannot place
        twice), or still cannot say (asked again at the next bar)."""
        events: list[Event] = []
        assert self.broker is not None
        for cid in sorted(self.unsure):
            row = self.ledger.order(cid)
            if row is None or not OrderStatus(row["status"]).is_open:
                self.unsure.discard(cid)
                continue
            try:
                ack = self.broker.get_order(cid)
            except Exception as exc:  # the broker cannot say right now
                log.warning("Order %s: state still unknown (%s)", cid, type(exc).__name__)
                continue
            if ack is None:
                log.warning("Order %s: the broker does not have it; sending it again", cid)
                with self.ledger.transaction():
                    events += self._send(_order_from_row(row), when)
                continue
            self.unsure.discard(cid)
            with self.ledger.transaction():
                self.ledger.update_order(
                    cid,
                    _ledger_status(ack.status, self.external),
                    event="state found",
                    message=ack.message,
                    broker_order_id=ack.broker_order_id or None,
                )
        return events

    def _signal(self, sleeve: Sleeve, intent: OrderIntent) -> SignalEvent:
        price = intent.reference_price or self.last_price.get(sleeve.symbol, 0.0)
        equity = float(sleeve.runner.equity)
        if intent.is_fraction:
            amount = abs(intent.size) * equity
        else:
            amount = abs(intent.size) * (intent.limit or intent.stop or price)
        if intent.action is IntentAction.CANCEL:
            action = "CANCEL"
        elif intent.parent_ref is not None:
            action = "CLOSE"
        else:
            action = "BUY" if intent.size > 0 else "SELL"
        share = amount / sleeve.capital if sleeve.capital else 0.0
        self.ledger.record_signal(
            self.run_id,
            sleeve.strategy_id,
            sleeve.symbol,
            intent.bar_time,
            action,
            price,
            intent.size,
            {
                "ref": intent.ref,
                "order_type": intent.order_type.value,
                "limit": intent.limit,
                "stop": intent.stop,
                "sl": intent.sl,
                "tp": intent.tp,
            },
        )
        return SignalEvent(
            sleeve.strategy_id,
            sleeve.symbol,
            intent.bar_time,
            action,
            price,
            amount,
            share,
            intent.order_type.value,
        )

    # -- risk rails ---------------------------------------------------------------------------------
    def _refused_by(self, sleeve: Sleeve, intent: OrderIntent) -> str | None:
        """The rule that refuses this new order, or None. Exits (SL/TP/close) always pass."""
        if intent.parent_ref is not None:
            return None
        if sleeve.symbol in self.paused:
            return "stale_feed"
        if self.risk is None:
            return None
        price = (
            intent.limit
            or intent.stop
            or intent.reference_price
            or self.last_price.get(sleeve.symbol, 0.0)
        )
        if intent.is_fraction:
            qty = None
            value = abs(intent.size) * float(sleeve.runner.equity)
        else:
            qty = abs(intent.size)
            value = qty * price
        rule: str | None = self.risk.check_order(
            sleeve.strategy_id, sleeve.symbol, intent.side.value, qty, value, intent.bar_time
        )
        return rule

    def _refuse(self, sleeve: Sleeve, intent: OrderIntent, rule: str) -> Event:
        """Record a refused order (status rejected, the rule as its message), take it out of the
        strategy's book, and tell the user."""
        from ..engine.flatten import drop_order

        cid = client_order_id(self.ledger_id, sleeve.strategy_id, sleeve.symbol, intent.ref)
        self.ledger.record_intent(self.run_id, intent, cid)
        order = BrokerOrder(
            cid, sleeve.symbol, intent.side, None, intent.order_type, intent.limit, intent.stop
        )
        self.ledger.record_order(
            self.run_id, order, [(sleeve.strategy_id, intent.ref, intent.size)]
        )
        message = f"risk rule {rule}" if rule != "stale_feed" else "stale feed: trading paused"
        self.ledger.update_order(cid, OrderStatus.REJECTED, event="risk", message=message)
        drop_order(sleeve.runner, intent.ref)
        self.ledger.add_sleeve_event(
            sleeve.strategy_id, sleeve.symbol, intent.bar_time, "refuse", ref=intent.ref
        )
        return RejectEvent(sleeve.symbol, intent.bar_time, cid, message, (sleeve.strategy_id,))

    def _watch_risk(self, ts: datetime, sleeves: Sequence[Sleeve]) -> None:
        """Feed positions and equity to the guard; a tripped kill switch is said, recorded, and
        (flatten_on_kill) closes the strategy's positions. Its state is kept in the ledger."""
        import json

        from ..engine.flatten import close_positions
        from ..risk import ACCOUNT

        risk = self.risk
        if risk is None:
            return
        for sleeve in sleeves:
            price = self.last_price.get(sleeve.symbol, 0.0)
            risk.on_position(
                sleeve.strategy_id, sleeve.symbol, float(sleeve.runner.position_size) * price
            )
        tripped: list[tuple[str, str]] = []
        for strategy_id in dict.fromkeys(s.strategy_id for s in sleeves):
            equity = sum(float(s.runner.equity) for s in self._by_strategy[strategy_id])
            rule = risk.on_equity(strategy_id, equity, ts)
            if rule:
                tripped.append((strategy_id, rule))
        total = sum(float(s.runner.equity) for s in self.all_sleeves())
        rule = risk.on_account_equity(total, ts)
        if rule:
            tripped.append((ACCOUNT, rule))
        for scope, rule in tripped:
            who = "the account" if scope == ACCOUNT else f"strategy {scope}"
            flatten = risk.limits(scope).flatten_on_kill
            self.alerts.append(
                f"KILL SWITCH: {rule} tripped for {who}: no new positions"
                + ("; closing its positions" if flatten else "")
                + "."
            )
            self.ledger.record_signal(
                self.run_id, scope, "*", ts, "KILL", None, None, {"rule": rule}
            )
            if flatten:
                for sleeve in self.all_sleeves():
                    if scope == ACCOUNT or sleeve.strategy_id == scope:
                        close_positions(sleeve.runner)
                        self.ledger.add_sleeve_event(sleeve.strategy_id, sleeve.symbol, ts, "close")
        state = json.dumps(risk.export_state(), sort_keys=True, default=str)
        if state != self._risk_state:
            self.ledger.set_meta("risk_state", state)
            self._risk_state = state

    def restore_risk(self) -> None:
        """A kill switch survives a restart."""
        import json

        state = self.ledger.get_meta("risk_state")
        if state and self.risk is not None:
            self.risk.import_state(json.loads(state))
            self._risk_state = state

    # -- the end of a run -----------------------------------------------------------------------
    def on_exit(self, policy: str) -> list[Event]:
        """``--on-exit``: keep open orders, cancel them, or cancel them and flatten every
        strategy's positions (at the last price with the paper broker; by market orders with a
        real broker)."""
        events: list[Event] = []
        if policy == "keep" or self.broker is None:
            return events
        actions = _Actions()
        with self.ledger.transaction():
            for cid, open_order in list(self.open_orders.items()):
                for sleeve, ref in open_order.legs:
                    if ref in _pending_refs(sleeve.runner):
                        from ..engine.flatten import drop_order

                        drop_order(sleeve.runner, ref)
                del self.open_orders[cid]
                if self.external:
                    actions.cancels.append(cid)
                else:
                    self.ledger.update_order(cid, OrderStatus.CANCELED, event="canceled on exit")
                    actions.finished.append((cid, False))
        events += self._apply(actions, datetime.now(UTC))
        if policy == "flatten":
            events += self._flatten()
        return events

    def _flatten(self) -> list[Event]:
        from ..engine.flatten import close_now, close_positions

        now = datetime.now(UTC)
        stamp = f"exit-{now:%Y%m%dT%H%M%S}"
        if not self.external:
            events: list[Event] = []
            for symbol, sleeves in self.sleeves.items():
                price = self.last_price.get(symbol)
                if price is None:
                    continue
                steps = []
                for sleeve in sleeves:
                    executions = close_now(sleeve.runner, price, stamp)
                    if executions:
                        steps.append((sleeve, _ExitStep(executions)))
                        self.ledger.add_sleeve_event(
                            sleeve.strategy_id,
                            symbol,
                            self.last_time.get(symbol),
                            "exit",
                            price,
                            stamp,
                        )
                if not steps:
                    continue
                bar = Bar(symbol, now, price, price, price, price)
                actions = _Actions()
                with self.ledger.transaction():
                    events += self._executions(bar, steps, actions)
                    for cid in {cid for s, _ in steps for cid in [s.cids.get(stamp)] if cid}:
                        self.ledger.update_order(cid, OrderStatus.FILLED, event="flattened on exit")
                        self.open_orders.pop(cid, None)
                        actions.finished.append((cid, True))
                    self._snapshot(now, sleeves)
                events += self._apply(actions, now)
            return events
        pairs = []
        from ..engine.book import ref_of

        for sleeve in self.all_sleeves():
            if not sleeve.runner.position_size:
                continue
            close_positions(sleeve.runner)
            self.ledger.add_sleeve_event(
                sleeve.strategy_id, sleeve.symbol, self.last_time.get(sleeve.symbol), "close"
            )

            for order in sleeve.runner.orders:
                ref = ref_of(order)
                if ref and ref not in sleeve.cids:
                    intent = self._book_intent(sleeve, ref)
                    if intent is not None:
                        pairs.append(
                            (
                                sleeve,
                                replace(
                                    intent,
                                    order_type=OrderType.MARKET,
                                    limit=None,
                                    stop=None,
                                    parent_ref=None,
                                ),
                            )
                        )
        events = []
        actions = _Actions()
        with self.ledger.transaction():
            self._intents(pairs, events, actions)
        return events + self._apply(actions, now)

    # -- real fills (external mode) ---------------------------------------------------------------
    def poll_fills(self, before: datetime | None = None) -> list[Event]:
        """Take the broker's new fills and apply each to the strategies whose order it fills."""
        if self.broker is None or not self.external:
            return []
        events: list[Event] = []
        fills = self.broker.poll_fills()
        batch = {f.client_order_id for f in fills}
        fills = sorted(fills, key=lambda f: not self._stops_a_trade(f, batch))
        for fill in fills:
            events += self._real_fill(fill, before or self.after_last_bar(fill.symbol))
        return events

    def market_orders_working(self) -> bool:
        """Is a market order of ours still working at the broker (its fill is on the way)?"""
        return any(
            (self.ledger.order(cid) or {}).get("order_type") == OrderType.MARKET.value
            for cid in self.open_orders
        )

    def after_last_bar(self, symbol: str) -> datetime:
        """When a fill applied outside a bar (after the last one, at the end of a run, at a
        restart) is recorded to have been applied: just after the symbol's last bar, so that a
        rebuilt book applies it between the same two bars as the live one did (a wall-clock
        time could fall before the next bar's start and change the order of events)."""
        last = self.last_time.get(symbol)
        return last + timedelta(microseconds=1) if last is not None else datetime.now(UTC)

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
        row = self.ledger.db.execute(
            "SELECT 1 FROM intents WHERE client_order_id=? AND action='new' AND parent_ref "
            "IS NOT NULL AND order_type IN (?, ?)",
            (cid, OrderType.STOP.value, OrderType.MARKET.value),
        ).fetchone()
        return row is not None

    def _real_fill(self, fill: Fill, before: datetime) -> list[Event]:
        if self.ledger.has_execution(fill.execution_id):
            return []
        if fill.cum_qty is not None:
            # One execution reported twice under two names (the stream and the executions
            # list, or the runs before and after a restart): the order's cumulative quantity
            # says what is new.
            fresh = fill.cum_qty - self.ledger.filled_qty(fill.client_order_id)
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
        row = self.ledger.order(cid)  # a bracket's leg is an order of its own ("<cid>/sl")
        if row is None:  # an OCO exit fills one of its legs: "<cid>/tp" (limit), "<cid>/sl"
            cid, _, leg_kind = fill.client_order_id.partition("/")
            row = self.ledger.order(cid)
        events: list[Event] = []
        actions = _Actions()
        with self.ledger.transaction():
            if row is None:  # not ours: somebody else traded this account
                self.ledger.record_fill(
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
                self.open_orders.pop(cid, None)
                brackets.free_sibling(self, cid)
            by_key = {(s.strategy_id, s.symbol): s for s in self.all_sleeves()}
            allocations, parts = [], []
            legs = self.ledger.legs(cid)
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
            self.ledger.record_fill(fill, allocations, applied_before=before)
            status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
            self.ledger.update_order(cid, status, event="fill", filled_qty=filled)
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
        return events + self._apply(actions, fill.timestamp)

    def _leg_type(self, leg: dict[str, Any], symbol: str) -> str | None:
        row = self.ledger.db.execute(
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
        actions: _Actions,
    ) -> None:
        """Book a real fill into the strategy's book; the SL/TP orders it creates go out next."""
        if ref not in _pending_refs(sleeve.runner):
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
            self._record_trade(sleeve, execution)
        self._intents([(sleeve, i) for i in result.intents], events, actions)

    def _cross(self, order: BrokerOrder, when: datetime) -> list[Event]:
        """Opposite orders of one bar that cancel out: each strategy is filled at the last
        price inside the account; nothing goes to the broker."""
        price = self.last_price.get(order.symbol, 0.0)
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
        actions = _Actions()
        by_key = {(s.strategy_id, s.symbol): s for s in self.all_sleeves()}
        with self.ledger.transaction():
            allocations = []
            for leg in self.ledger.legs(order.client_order_id):
                allocations.append(
                    Allocation(leg["strategy_id"], order.symbol, leg["ref"], leg["size"], price)
                )
                sleeve = by_key.get((leg["strategy_id"], order.symbol))
                if sleeve is None:
                    continue
                if leg["size"]:
                    self._apply_real(sleeve, leg["ref"], leg["size"], fill, events, actions)
                elif leg["ref"] in _pending_refs(sleeve.runner):
                    sleeve.runner.cancel_order(
                        leg["ref"], "too small for one unit at the last price"
                    )
            # Applied right after the bar that made it: a rebuild replays it before the next bar.
            self.ledger.record_fill(
                fill, allocations, applied_before=self.after_last_bar(order.symbol)
            )
            self.ledger.update_order(
                order.client_order_id, OrderStatus.FILLED, event="crossed inside the account"
            )
            self.open_orders.pop(order.client_order_id, None)
        return events + self._apply(actions, when)

    # -- restart ---------------------------------------------------------------------------------
    def resume_orders(self) -> None:
        """After the books were rebuilt from the ledger: which order each ref is, which are open."""
        for sleeve in self.all_sleeves():
            sleeve.cids.update(self.ledger.intent_orders(sleeve.strategy_id, sleeve.symbol))
        by_key = {(s.strategy_id, s.symbol): s for s in self.all_sleeves()}
        for row in self.ledger.orders(open_only=True):
            legs = [
                (by_key[(leg["strategy_id"], row["symbol"])], leg["ref"])
                for leg in self.ledger.legs(row["client_order_id"])
                if (leg["strategy_id"], row["symbol"]) in by_key
            ]
            if legs:
                self.open_orders[row["client_order_id"]] = _OpenOrder(
                    row["client_order_id"], row["symbol"], legs
                )

    def reconcile(self) -> list[str]:
        """Ledger against the broker's whole state, at start (see reconcile.py)."""
        from .reconcile import reconcile

        return reconcile(self)

    # -- books ----------------------------------------------------------------------------------
    def _snapshot(self, ts: datetime, sleeves: Sequence[Sleeve]) -> None:
        for strategy_id in dict.fromkeys(s.strategy_id for s in sleeves):
            own = self._by_strategy[strategy_id]
            cash = sum(float(s.runner.cash) for s in own)
            equity = sum(float(s.runner.equity) for s in own)
            positions = [
                (
                    s.symbol,
                    float(s.runner.position_size),
                    _avg_price(s.runner),
                    self.last_price.get(s.symbol),
                )
                for s in own
            ]
            self.ledger.snapshot(ts, strategy_id, cash, equity, positions)

    def strategy_summary(self) -> list[dict[str, Any]]:
        """Per strategy: capital, equity, P&L, closed trades and win rate (from the books)."""
        out = []
        for strategy_id in self.strategy_ids():
            own = self._by_strategy[strategy_id]
            capital = sum(s.capital for s in own)
            equity = sum(float(s.runner.equity) for s in own)
            closed = [t for s in own for t in list(s.runner.closed_trades)[s.closed_before :]]
            wins = sum(1 for t in closed if t.pl > 0)
            out.append(
                {
                    "strategy_id": strategy_id,
                    "allocation": own[0].spec.allocation,
                    "capital": capital,
                    "equity": equity,
                    "pnl": equity - capital,
                    "trades": len(closed),
                    "win_rate": wins / len(closed) if closed else None,
                    "positions": {s.symbol: float(s.runner.position_size) for s in own},
                }
            )
        return out


def _order_from_row(row: dict[str, Any]) -> BrokerOrder:
    """A committed order as the ledger holds it, to send (again) under its client order id."""
    return BrokerOrder(
        row["client_order_id"],
        row["symbol"],
        Side(row["side"]),
        row["qty"],
        OrderType(row["order_type"]),
        row["limit_price"],
        row["stop_price"],
        row["notional"],
        row["time_in_force"] or "day",
        take_profit=row["take_profit"],
        stop_loss=row["stop_loss"],
        order_class=row["order_class"],
    )


def _ledger_status(status: OrderStatus, external: bool) -> OrderStatus:
    """With a real broker an order becomes (partially) filled in the ledger only through its
    fills, which arrive on their own: an answer saying 'filled' keeps it open until then, so a
    fill that arrives late (or while StrateQueue is down) is still applied."""
    if external and status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
        return OrderStatus.ACCEPTED
    return status


def _oco_leg(row: dict[str, Any], price: float) -> str:
    """Which leg of an OCO exit filled, from the fill price: the take-profit limit fills at its
    price or better, the stop at its price or worse. '' for other orders."""
    if row.get("order_class") != "oco":
        return ""
    limit = row["take_profit"] or row["limit_price"]
    better = price >= limit - 1e-9 if row["side"] == Side.SELL.value else price <= limit + 1e-9
    return "/tp" if better else "/sl"


def _pending_refs(runner: Any) -> set[str | None]:
    from ..engine.book import ref_of

    return {ref_of(order) for order in runner.orders}


def _avg_price(runner: Any) -> float | None:
    trades = list(runner.open_trades)
    size = sum(t.size for t in trades)
    if not size:
        return None
    return float(sum(t.size * t.entry_price for t in trades) / size)


def _utc(value: Any) -> datetime:
    return utc(value.to_pydatetime() if hasattr(value, "to_pydatetime") else value)
