"""The portfolio: each strategy's capital and book, netting, attribution, orders to the broker.

Every (strategy, symbol) pair is a *sleeve*: one runner whose backtesting.py book holds that
strategy's capital for that symbol. Per bar the portfolio

1. steps every sleeve of the bar's symbol (the book fills what it would fill in a backtest,
   then the strategy's ``next()`` runs);
2. turns the books' executions into broker fills: with a broker that fills at book prices
   (the paper broker) each order's executions are netted into one fill at their average price
   and attributed back to each strategy at its own price;
3. turns new intents into broker orders: market orders of several strategies on one symbol in
   one bar become ONE netted order (opposite intents cross inside it); limit, stop and SL/TP
   orders are sent one by one. Each order is committed to the ledger before it is sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..brokers.base import BaseBroker
from ..ledger import Allocation, Ledger
from ..models import Bar, BrokerOrder, IntentAction, OrderIntent, OrderStatus, OrderType, Side
from .config import StrategySpec
from .events import Event, FillEvent, RejectEvent, SignalEvent
from .ids import client_order_id, netted_order_id

__all__ = ["Portfolio", "Sleeve"]

log = logging.getLogger(__name__)


@dataclass
class Sleeve:
    """One strategy on one symbol: its runner (book) and its orders at the broker."""

    spec: StrategySpec
    symbol: str
    runner: Any  # stratequeue.engine.StrategyRunner
    capital: float
    cids: dict[str, str] = field(default_factory=dict)  # order ref -> client order id

    @property
    def strategy_id(self) -> str:
        return self.spec.strategy_id


@dataclass
class _OpenOrder:
    cid: str
    symbol: str
    legs: list[tuple[Sleeve, str]]  # (sleeve, order ref)


class Portfolio:
    def __init__(self, *, ledger: Ledger, broker: BaseBroker | None, run_id: int) -> None:
        self.ledger = ledger
        self.broker = broker
        self.run_id = run_id
        self.ledger_id = ledger.ledger_id
        self.sleeves: dict[str, list[Sleeve]] = defaultdict(list)
        self.open_orders: dict[str, _OpenOrder] = {}
        self.last_price: dict[str, float] = {}

    # -- set-up -------------------------------------------------------------------------------
    def add(self, sleeve: Sleeve) -> None:
        self.sleeves[sleeve.symbol].append(sleeve)

    def all_sleeves(self) -> list[Sleeve]:
        return [s for group in self.sleeves.values() for s in group]

    def strategy_ids(self) -> list[str]:
        return list(dict.fromkeys(s.strategy_id for s in self.all_sleeves()))

    # -- the per-bar pipeline -------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> list[Event]:
        sleeves = self.sleeves.get(bar.symbol, [])
        if not sleeves:
            return []
        self.last_price[bar.symbol] = bar.close
        steps = [(sleeve, sleeve.runner.on_bar(bar)) for sleeve in sleeves]
        events: list[Event] = []
        with self.ledger.transaction():
            self.ledger.record_bar(bar)
            events += self._executions(bar, steps)
            self._close_finished(bar, sleeves, events)
            orders = self._intents(bar, [(s, i) for s, step in steps for i in step.intents], events)
            self._snapshot(bar.timestamp, sleeves)
        events += self._send(bar, orders)
        return events

    def start(self, sleeves_intents: Iterable[tuple[Sleeve, Sequence[OrderIntent]]], bar_time: datetime) -> list[Event]:
        """Send the orders strategies had pending when their warm-up ended."""
        events: list[Event] = []
        pairs = [(s, i) for s, intents in sleeves_intents for i in intents]
        with self.ledger.transaction():
            orders = self._intents(None, pairs, events, bar_time=bar_time)
        events += self._send(None, orders)
        return events

    def adopt(self, sleeve: Sleeve, trades: Sequence[Any]) -> None:
        """Book trades a warm-started strategy holds from its history into the (paper) account
        as of their entry, so a replay's account matches the strategy's book. Live runs never
        do this: no order is placed for the past."""
        from ..engine.book import ref_of

        with self.ledger.transaction():
            for trade in trades:
                trade_ref = ref_of(trade) or f"bar{trade.entry_bar}"
                ref = f"adopted-{trade_ref}"
                cid = client_order_id(self.ledger_id, sleeve.strategy_id, sleeve.symbol, ref)
                side = Side.BUY if trade.size > 0 else Side.SELL
                order = BrokerOrder(cid, sleeve.symbol, side, None)
                self.ledger.record_order(self.run_id, order, [(sleeve.strategy_id, ref, trade.size)])
                entry_time = _utc(trade.entry_time)
                if self.broker is not None and hasattr(self.broker, "fill_from_book"):
                    self.broker.submit_order(order)
                    fill = self.broker.fill_from_book(cid, trade.size, trade.entry_price, entry_time,
                                                      execution_id=f"{cid}-adopted")
                    self.ledger.record_fill(fill, [Allocation(sleeve.strategy_id, sleeve.symbol, ref,
                                                              trade.size, trade.entry_price)])
                self.ledger.update_order(cid, OrderStatus.FILLED, event="adopted from warm-up")
                self.ledger.open_trade(sleeve.strategy_id, sleeve.symbol, trade_ref, trade.size,
                                       trade.entry_bar, trade.entry_price, entry_time, trade.sl,
                                       trade.tp, trade.tag)

    # -- executions -> fills ------------------------------------------------------------------
    def _executions(self, bar: Bar, steps: Sequence[tuple[Sleeve, Any]]) -> list[Event]:
        by_cid: dict[str, list[tuple[Sleeve, Any]]] = defaultdict(list)
        for sleeve, step in steps:
            for execution in step.executions:
                self._record_trade(sleeve, execution)
                cid = sleeve.cids.get(execution.order_ref)
                if cid is None:
                    cid = self._book_initiated_order(sleeve, execution, bar)
                by_cid[cid].append((sleeve, execution))
        events: list[Event] = []
        for cid, items in by_cid.items():
            events.append(self._fill(bar, cid, items))
        return events

    def _book_initiated_order(self, sleeve: Sleeve, execution: Any, bar: Bar) -> str:
        """An order the book created and filled within one bar (an SL hit on its entry bar):
        record it like any other before its fill."""
        cid = client_order_id(self.ledger_id, sleeve.strategy_id, sleeve.symbol, execution.order_ref)
        side = Side.BUY if execution.fill_qty > 0 else Side.SELL
        order = BrokerOrder(cid, sleeve.symbol, side, None, OrderType.MARKET)
        self.ledger.record_order(self.run_id, order, [(sleeve.strategy_id, execution.order_ref, execution.fill_qty)])
        if self.broker is not None:
            self.broker.submit_order(order)
        self.ledger.update_order(cid, OrderStatus.ACCEPTED, event="sent")
        sleeve.cids[execution.order_ref] = cid
        self.open_orders[cid] = _OpenOrder(cid, sleeve.symbol, [(sleeve, execution.order_ref)])
        return cid

    def _fill(self, bar: Bar, cid: str, items: list[tuple[Sleeve, Any]]) -> Event:
        net = sum(e.fill_qty for _, e in items)
        flow = sum(e.fill_qty * e.price for _, e in items)
        commission = sum(e.commission for _, e in items)
        price = flow / net if abs(net) > 1e-12 else items[0][1].price
        execution_id = f"{cid}-{bar.timestamp:%Y%m%dT%H%M%S}"
        allocations = [
            Allocation(s.strategy_id, s.symbol, e.order_ref, e.fill_qty, e.price, e.commission) for s, e in items
        ]
        side = Side.BUY if net > 0 else Side.SELL
        if self.broker is not None and hasattr(self.broker, "fill_from_book"):
            fill = self.broker.fill_from_book(
                cid, net, price, bar.timestamp, commission, final=False, execution_id=execution_id,
                cash_flow=flow + commission,
            )
            self.ledger.record_fill(fill, allocations)
        strategies = tuple((s.strategy_id, e.fill_qty) for s, e in items)
        return FillEvent(bar.symbol, bar.timestamp, side.value.upper(), abs(net), price, cid, strategies,
                         hypothetical=self.broker is None)

    def _record_trade(self, sleeve: Sleeve, e: Any) -> None:
        if e.kind == "open":
            self.ledger.open_trade(sleeve.strategy_id, sleeve.symbol, e.trade_ref, e.size, e.bar_index,
                                   e.price, e.time, e.sl, e.tp, e.tag)
        else:
            self.ledger.close_trade(
                sleeve.strategy_id, sleeve.symbol, e.trade_ref, size=e.size, entry_bar=e.entry_bar,
                exit_bar=e.bar_index, entry_price=e.entry_price, exit_price=e.price, sl=e.sl, tp=e.tp,
                pnl=e.pnl, commission=getattr(e, "trade_commission", None),
                return_pct=getattr(e, "return_pct", None),
                entry_time=e.entry_time, exit_time=e.time, tag=e.tag,
            )

    def _close_finished(self, bar: Bar, sleeves: Sequence[Sleeve], events: list[Event]) -> None:
        """Orders of this symbol whose every leg has left its book are done."""
        for cid, open_order in list(self.open_orders.items()):
            if open_order.symbol != bar.symbol:
                continue
            if any(ref in _pending_refs(s.runner) for s, ref in open_order.legs):
                continue
            filled = self.ledger.db.execute(
                "SELECT COUNT(*) FROM fills WHERE client_order_id=?", (cid,)
            ).fetchone()[0]
            status = OrderStatus.FILLED if filled else OrderStatus.CANCELED
            if self.broker is not None and hasattr(self.broker, "close_book_order"):
                self.broker.close_book_order(cid, filled=bool(filled))
            self.ledger.update_order(cid, status, event=status.value)
            del self.open_orders[cid]

    # -- intents -> orders --------------------------------------------------------------------
    def _intents(
        self, bar: Bar | None, pairs: Sequence[tuple[Sleeve, OrderIntent]], events: list[Event],
        *, bar_time: datetime | None = None,
    ) -> list[BrokerOrder]:
        orders: list[BrokerOrder] = []
        netted: dict[str, list[tuple[Sleeve, OrderIntent]]] = defaultdict(list)
        for sleeve, intent in pairs:
            if intent.action is IntentAction.NEW:
                events.append(self._signal(sleeve, intent))
                if intent.order_type is OrderType.MARKET and intent.parent_ref is None:
                    netted[sleeve.symbol].append((sleeve, intent))
                    continue
                cid = client_order_id(self.ledger_id, sleeve.strategy_id, sleeve.symbol, intent.ref)
                self.ledger.record_intent(self.run_id, intent, cid)
                orders.append(self._order(cid, [(sleeve, intent)]))
            elif intent.action is IntentAction.CANCEL:
                self.ledger.record_intent(self.run_id, intent, sleeve.cids.get(intent.ref))
                events.append(self._signal(sleeve, intent))
            else:  # REPLACE: the book changed a pending order's prices
                self.ledger.record_intent(self.run_id, intent, sleeve.cids.get(intent.ref))
        for symbol, group in netted.items():
            legs = [(s.strategy_id, i.ref) for s, i in group]
            cid = (
                client_order_id(self.ledger_id, group[0][0].strategy_id, symbol, group[0][1].ref)
                if len(group) == 1
                else netted_order_id(self.ledger_id, symbol, legs)
            )
            for sleeve, intent in group:
                self.ledger.record_intent(self.run_id, intent, cid)
            orders.append(self._order(cid, group))
        return orders

    def _order(self, cid: str, group: Sequence[tuple[Sleeve, OrderIntent]]) -> BrokerOrder:
        first = group[0][1]
        units = sum(i.size for _, i in group)
        side = Side.BUY if units > 0 else Side.SELL
        order = BrokerOrder(
            cid, first.symbol, side, None, first.order_type, first.limit, first.stop,
            time_in_force="gtc" if first.order_type is not OrderType.MARKET else "day",
        )
        self.ledger.record_order(self.run_id, order, [(s.strategy_id, i.ref, i.size) for s, i in group])
        for sleeve, intent in group:
            sleeve.cids[intent.ref] = cid
        self.open_orders[cid] = _OpenOrder(cid, first.symbol, [(s, i.ref) for s, i in group])
        return order

    def _send(self, bar: Bar | None, orders: Sequence[BrokerOrder]) -> list[Event]:
        """Send orders already committed to the ledger; record each answer."""
        events: list[Event] = []
        for order in orders:
            if self.broker is None:
                self.ledger.update_order(order.client_order_id, OrderStatus.ACCEPTED, event="signal-only")
                continue
            ack = self.broker.submit_order(order)
            self.ledger.update_order(order.client_order_id, ack.status, event="sent",
                                     message=ack.message, broker_order_id=ack.broker_order_id or None)
            if ack.status is OrderStatus.REJECTED:
                strategies = tuple(s.strategy_id for s, _ in self.open_orders[order.client_order_id].legs)
                events.append(RejectEvent(order.symbol, bar.timestamp if bar else _now(),
                                          order.client_order_id, ack.message, strategies))
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
            self.run_id, sleeve.strategy_id, sleeve.symbol, intent.bar_time, action, price, intent.size,
            {"ref": intent.ref, "order_type": intent.order_type.value, "limit": intent.limit,
             "stop": intent.stop, "sl": intent.sl, "tp": intent.tp},
        )
        return SignalEvent(sleeve.strategy_id, sleeve.symbol, intent.bar_time, action, price, amount,
                           share, intent.order_type.value)

    # -- books ----------------------------------------------------------------------------------
    def _snapshot(self, ts: datetime, sleeves: Sequence[Sleeve]) -> None:
        for strategy_id in dict.fromkeys(s.strategy_id for s in sleeves):
            own = [s for s in self.all_sleeves() if s.strategy_id == strategy_id]
            cash = sum(float(s.runner.cash) for s in own)
            equity = sum(float(s.runner.equity) for s in own)
            positions = [
                (s.symbol, float(s.runner.position_size), _avg_price(s.runner), self.last_price.get(s.symbol))
                for s in own
            ]
            self.ledger.snapshot(ts, strategy_id, cash, equity, positions)

    def strategy_summary(self) -> list[dict[str, Any]]:
        """Per strategy: capital, equity, P&L, closed trades and win rate (from the books)."""
        out = []
        for strategy_id in self.strategy_ids():
            own = [s for s in self.all_sleeves() if s.strategy_id == strategy_id]
            capital = sum(s.capital for s in own)
            equity = sum(float(s.runner.equity) for s in own)
            closed = [t for s in own for t in s.runner.closed_trades]
            wins = sum(1 for t in closed if t.pl > 0)
            out.append({
                "strategy_id": strategy_id, "allocation": own[0].spec.allocation, "capital": capital,
                "equity": equity, "pnl": equity - capital, "trades": len(closed),
                "win_rate": wins / len(closed) if closed else None,
                "positions": {s.symbol: float(s.runner.position_size) for s in own},
            })
        return out


def _pending_refs(runner: Any) -> set[str | None]:
    from ..engine.book import ref_of

    return {ref_of(order) for order in runner.orders}


def _avg_price(runner: Any) -> float | None:
    trades = list(runner.open_trades)
    size = sum(t.size for t in trades)
    if not size:
        return None
    return sum(t.size * t.entry_price for t in trades) / size


def _utc(value: Any) -> datetime:
    from ..models import utc

    return utc(value.to_pydatetime() if hasattr(value, "to_pydatetime") else value)


def _now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
