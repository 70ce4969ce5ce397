"""The portfolio: each strategy's capital and book, netting, attribution, orders to the broker.

Every (strategy, symbol) pair is a *sleeve* (state.py). Per bar the portfolio

1. takes what the broker reported since the last bar (a real broker: fill_model.py);
2. steps every sleeve of the bar's symbol (the book fills what it would fill in a backtest,
   then the strategy's ``next()`` runs);
3. turns the books' executions into fills (a book-priced broker: book_fills.py);
4. turns new intents into broker orders (routing.py), past the risk rails (rails.py).

Write-ahead: everything a bar decides is committed to the ledger in one transaction FIRST;
only then is the broker told (orders sent, fills booked). A crash before the commit loses
the bar and nothing else; a crash after it is completed by :meth:`Portfolio.reconcile` on the
next start, with the same client order ids and execution ids, so nothing happens twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..brokers.base import BaseBroker
from ..ledger import Ledger
from ..logs import BAR_LOGGER
from ..models import Bar, OrderIntent, OrderType
from . import exits, rails, reconcile, routing, summary
from .events import Event
from .fill_model import FillModel, fill_model_for
from .state import Actions, OpenOrder, Sleeve

__all__ = ["Portfolio"]

bar_log = logging.getLogger(BAR_LOGGER)  # every bar's line: DEBUG with --verbose only


class Portfolio:
    def __init__(self, *, ledger: Ledger, broker: BaseBroker | None, run_id: int) -> None:
        self.ledger = ledger
        self.broker = broker
        self.run_id = run_id
        self.ledger_id = ledger.ledger_id
        self.sleeves: dict[str, list[Sleeve]] = defaultdict(list)
        #: the same sleeves by strategy: a bar's snapshot reads its strategies' sleeves only
        self.by_strategy: dict[str, list[Sleeve]] = defaultdict(list)
        self.open_orders: dict[str, OpenOrder] = {}
        self.last_price: dict[str, float] = {}
        self.last_time: dict[str, datetime] = {}
        self.risk: Any = None  # stratequeue.risk.RiskGuard, when limits are configured
        self.risk_state = ""  # the guard's state as last written to the ledger
        self.paused: set[str] = set()  # symbols whose feed went stale: no new orders
        #: (strategy, symbol) sleeves an operator paused (app/controls.py): no new orders
        self.held: set[tuple[str, str]] = set()
        self.alerts: list[str] = []  # kill switches and pauses, for the display
        #: orders sent whose answer was lost (UNKNOWN) or that could not be sent (PENDING):
        #: looked up at every bar until the broker has them or has ruled them out
        self.unsure: set[str] = set()
        #: where fills come from, chosen once for this broker (fill_model.py)
        self.fills: FillModel = fill_model_for(self)
        #: where the runners step (stratequeue.executors): this process unless a run says
        self.executor: Any = None
        #: strategies whose snapshot waits for the end of the moment (:meth:`end_moment`);
        #: None: each bar writes its strategies' snapshot
        self.moment_snapshots: dict[str, None] | None = None

    @property
    def external(self) -> bool:
        """A broker that reports real fills: sizes are converted at submission and each
        strategy's book is reconciled with the fills (broker_fills.py)."""
        return self.fills.real

    # -- set-up -------------------------------------------------------------------------------
    def add(self, sleeve: Sleeve) -> None:
        self.sleeves[sleeve.symbol].append(sleeve)
        self.by_strategy[sleeve.strategy_id].append(sleeve)

    def all_sleeves(self) -> list[Sleeve]:
        return [s for group in self.sleeves.values() for s in group]

    def strategy_ids(self) -> list[str]:
        return list(dict.fromkeys(s.strategy_id for s in self.all_sleeves()))

    # -- the per-bar pipeline -------------------------------------------------------------------
    def on_bar(self, bar: Bar, received_at: datetime | None = None) -> list[Event]:
        """One closed bar through the sleeves; ``received_at``: when a live bar reached
        StrateQueue (kept with the bar; None for a replay)."""
        sleeves = self.sleeves.get(bar.symbol, [])
        if not sleeves:
            return []
        # in a moment the broker was asked once, before its runners stepped (begin_moment)
        events = self.fills.before_bar(bar.timestamp) if self.moment_snapshots is None else []
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
        steps = (
            self.executor.step(bar, sleeves)
            if self.executor is not None
            else [(sleeve, sleeve.runner.on_bar(bar)) for sleeve in sleeves]
        )
        actions = Actions()
        with self.ledger.transaction():
            self.ledger.record_bar(bar, received_at)
            events += self.fills.after_step(bar, steps, actions)
            routing.intents(
                self, [(s, i) for s, step in steps for i in step.intents], events, actions
            )
            if self.moment_snapshots is None:
                summary.snapshot(self, bar.timestamp, sleeves)
            else:
                self.moment_snapshots.update(dict.fromkeys(s.strategy_id for s in sleeves))
            rails.watch_risk(self, bar.timestamp, sleeves)
        events += routing.apply(self, actions, bar.timestamp)
        return events

    def begin_moment(self, when: datetime) -> list[Event]:
        """The bars of time ``when`` follow, their runners stepped together (possibly all at
        once, in workers, before the first bar reaches :meth:`on_bar`). So what the broker
        reported since the last moment (a real broker's fills) is taken now, once, before any
        of them steps, as a rebuilt book applies it; and their strategies' snapshots are
        written once, at :meth:`end_moment` (the values the last bar's snapshot would have
        left: a snapshot replaces the one of the same time). Without this a moment of S
        symbols writes each strategy's S positions S times."""
        events = self.fills.before_bar(when)
        self.moment_snapshots = {}
        return events

    def end_moment(self, ts: datetime) -> None:
        """Write the snapshots of the moment's strategies (see :meth:`begin_moment`)."""
        waiting, self.moment_snapshots = self.moment_snapshots, None
        if waiting:
            with self.ledger.transaction():
                summary.snapshot_strategies(self, ts, list(waiting))

    def start(self, sleeves_intents: Iterable[tuple[Sleeve, Sequence[OrderIntent]]]) -> list[Event]:
        """Send the orders strategies had pending when their warm-up ended."""
        events: list[Event] = []
        actions = Actions()
        with self.ledger.transaction():
            pairs = [(s, i) for s, intents in sleeves_intents for i in intents]
            routing.intents(self, pairs, events, actions)
        events += routing.apply(self, actions, datetime.now(UTC))
        return events

    def adopt(self, sleeve: Sleeve, trades: Sequence[Any]) -> None:
        """Record trades a warm-started strategy holds from its history (see reconcile.py)."""
        reconcile.adopt(self, sleeve, trades)

    # -- fills ----------------------------------------------------------------------------------
    def poll_fills(self, before: datetime | None = None) -> list[Event]:
        """Take the broker's new fills and apply each to the strategies whose order it fills."""
        return self.fills.poll(before)

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

    # -- restart, risk, the end of a run, reporting ---------------------------------------------
    def resume_orders(self) -> None:
        """After the books were rebuilt from the ledger: which order each ref is, which are open."""
        reconcile.resume_orders(self)

    def reconcile(self) -> list[str]:
        """Ledger against the broker's whole state, at start (see reconcile.py)."""
        return reconcile.reconcile(self)

    def restore_risk(self) -> None:
        """A kill switch survives a restart."""
        rails.restore_risk(self)

    def on_exit(self, policy: str) -> list[Event]:
        """``--on-exit``: keep, cancel or flatten (see exits.py)."""
        return exits.on_exit(self, policy)

    def strategy_summary(self) -> list[dict[str, Any]]:
        """Per strategy: capital, equity, P&L, closed trades and win rate (from the books)."""
        return summary.strategy_summary(self)
