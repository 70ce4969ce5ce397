"""The application object: one run's lifecycle, in the one order that is safe.

build (connect, read the account, rebuild or warm up the books; nothing sent) -> confirm (a
live run: the caller's callback sees the account; a refusal ends the run "not started") ->
start (the first requests that change the account: reconciliation, warm-up orders) -> run
(bars until the duration, the feed's end or a stop; SIGTERM stops it) -> summary -> close.

:meth:`App.execute` does build -> confirm -> start -> run; the single steps are there for
callers that show something between them, and refuse to be taken out of order.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from ..brokers.base import BaseBroker, BookPricedBroker
from ..data.base import BaseDataSource
from ..display import Display, panel_data
from ..errors import StrateQueueError, UsageError
from ..executors import Executor, create_executor
from ..ledger import Ledger
from ..models import AccountInfo
from ..portfolio import Portfolio
from .build import RunParts, build_run
from .config import RunConfig
from .controls import ControlDesk, allocations_from_controls
from .live_feed import accepted, gather_window, paced
from .moments import SUMMARISE_ABOVE, EngineBudget, Moment, moments
from .pacing import Heartbeat

__all__ = ["App", "Confirm", "LifecycleError", "NotConfirmed", "RunSummary"]


#: Asked before a live run sends anything: (the account, the broker's name) -> go ahead?
Confirm = Callable[[AccountInfo, str], bool]
Hook = Callable[["App"], None]


class LifecycleError(StrateQueueError):
    """A step of :class:`App` taken out of order (a bug in the caller)."""


class NotConfirmed(UsageError):
    """The confirm callback refused the live run."""


@dataclass(frozen=True)
class RunSummary:
    """The end of a run: why it ended, bars processed, each strategy's row
    (:meth:`Portfolio.strategy_summary`) and the broker account (equity, cash) if any."""

    reason: str
    bars: int
    strategies: list[dict[str, Any]]
    account: dict[str, float] | None


class App:
    """One run of ``config``. ``display`` shows notes, events and the panel (None: silent);
    ``show_events`` False keeps notes but not events and panel (``stratequeue replay``)."""

    def __init__(
        self, config: RunConfig, display: Display | None = None, *, show_events: bool = True
    ) -> None:
        self.config = config
        self.display = display
        self.show_events = show_events
        self.stop_event = threading.Event()
        self.bars_seen = 0
        self.reason: str | None = None  # why run() ended ("error" if it raised)
        self.phase = "new"  # new, built, confirmed, started, running, ran; or failed, closed
        self._parts: RunParts | None = None
        self._desk: ControlDesk | None = None
        self._stop_reason = "stopped"
        self._started = False

    # -- the parts, once built ------------------------------------------------------------------
    @property
    def parts(self) -> RunParts:
        if self._parts is None:
            raise LifecycleError("The run is not built: call App.build() (or App.execute()).")
        return self._parts

    @property
    def ledger(self) -> Ledger:
        return self.parts.ledger

    @property
    def portfolio(self) -> Portfolio:
        return self.parts.portfolio

    @property
    def broker(self) -> BaseBroker | None:
        return self.parts.broker

    @property
    def source(self) -> BaseDataSource:
        return self.parts.source

    @property
    def started(self) -> bool:
        """Whether :meth:`start` completed (the account may have changed since)."""
        return self._started

    # -- the lifecycle --------------------------------------------------------------------------
    def execute(
        self,
        confirm: Confirm | None = None,
        *,
        on_built: Hook | None = None,
        on_started: Hook | None = None,
    ) -> str:
        """build -> (``on_built``) -> confirm -> start -> (``on_started``) -> run; returns why
        the run ended. ``confirm`` is required for a live run. Call :meth:`close` after."""
        self.build()
        if on_built is not None:
            on_built(self)
        self.confirm(confirm)
        self.start()
        if on_started is not None:
            on_started(self)
        return self.run()

    def build(self) -> None:
        """Connect, open the ledger and rebuild or warm up every strategy's book. Reads the
        broker account and changes nothing in it."""
        self._step("build", "new")
        try:
            self.config = allocations_from_controls(self.config, self._say)
            parts = self._parts = build_run(self.config, self._say)
            self._desk = ControlDesk(
                parts.ledger, parts.portfolio, parts.run_id, self.config, self._equity
            )
            self._desk.restore()
        except BaseException:
            self.phase = "failed"
            raise
        self.phase = "built"

    def confirm(self, callback: Confirm | None = None) -> None:
        """A live run: ask ``callback`` with the account and the broker's name; False or an
        exception ends the run "not started" with nothing sent. Other modes go straight on."""
        self._step("confirm", "built")
        if self.config.mode == "live":
            broker = self.broker
            assert broker is not None  # a live run always has one
            try:
                if callback is None:
                    raise LifecycleError(
                        "A live run needs a confirmation: App.execute(confirm=...) or "
                        "App.confirm(callback), callback(account, broker_name) -> bool."
                    )
                if not callback(broker.get_account_info(), broker.name):
                    raise NotConfirmed("The live run was not confirmed; nothing was sent.")
            except BaseException:
                self.close("not started")
                raise
        self.phase = "confirmed"

    def start(self) -> None:
        """The first requests that change the broker account: reconciliation (orders committed
        before a crash, fills to book, orders to adopt or cancel) and the orders strategies had
        pending when their warm-up ended. A failure ends the run "not started"."""
        self._step("start", "confirmed")
        try:
            self._start(self.parts)
        except BaseException:
            self.close("not started")
            raise
        self.phase = "started"
        self._started = True

    def _start(self, parts: RunParts) -> None:
        broker = parts.broker
        if self.config.replay and isinstance(broker, BookPricedBroker) and not parts.went_live:
            # A replay's books keep their warm-up P&L (that is what makes it exact); book it
            # into the paper account too, so that strategies and account add up. Before the
            # first live bar the books are as the warm-up left them, so a start that follows a
            # crash computes the same amount; the transfer id makes it once.
            books = sum(float(s.runner.equity) for s in parts.portfolio.all_sleeves())
            gap = books - broker.get_account_info().equity
            if abs(gap) > 1e-9:
                broker.deposit(gap, transfer_id="replay-warm-up")
        for note in parts.portfolio.reconcile():
            self._say(note)
        if parts.pending and broker is not None:
            events = parts.portfolio.start(parts.pending)
            if self.display is not None and self.show_events:
                self.display.events(events)
        parts.pending = []

    def run(self) -> str:
        """Process bars until the duration ends, the feed ends or :meth:`stop` (SIGTERM too,
        when called on the main thread); returns why. Then apply ``on_exit``."""
        self._step("run", "started")
        self.phase = "running"
        self.reason = "error"
        on_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, self._on_sigterm) if on_main else None
        try:
            self.reason = self._loop(self.parts)
        finally:
            if on_main:
                signal.signal(signal.SIGTERM, previous)
            self.phase = "ran"
        return self.reason

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.stop("SIGTERM")

    def _loop(self, parts: RunParts) -> str:
        cfg, portfolio = self.config, parts.portfolio
        timer = None
        if cfg.duration:
            timer = threading.Timer(cfg.duration * 60, self.stop, args=("duration reached",))
            timer.daemon = True
            timer.start()
        if not cfg.replay and cfg.stale_after:
            parts.watch.start(self.stop_event)
        desk = self._desk
        assert desk is not None  # built with the parts
        heartbeat = None
        if str(cfg.db) != ":memory:":  # another process can reach the run through its file
            heartbeat = Heartbeat(cfg.db, parts.run_id, desk.pending)
            heartbeat.start()
        executor = self._executor(parts)
        runners = len(portfolio.all_sleeves())
        interval = parts.source.granularity.timedelta.total_seconds()
        budget = EngineBudget(interval, self._say)
        # many runners: one line per moment instead of every signal and fill
        moment = Moment(self._show_moment) if runners > SUMMARISE_ABOVE else None
        bars = parts.source.stream(list(cfg.symbols))
        reason = "feed ended"
        try:  # a live feed's bars come through a queue: controls apply between slow bars
            executor.attach(portfolio.all_sleeves())
            portfolio.executor = executor
            # a moment's bars step together (in parallel: workers); live ones within a window
            feed: Iterator[Any] = (
                moments(bars, expected=len(cfg.symbols))
                if cfg.replay
                else paced(
                    bars,
                    desk.pending,
                    self.stop_event,
                    expected=len(cfg.symbols),
                    window=gather_window(cfg.gather, interval),
                )
            )
            for item in feed:
                if self.stop_event.is_set():
                    break
                if item is None:
                    if moment is not None:
                        moment.flush()
                    self._show(desk.apply())
                    continue
                batch, received = accepted(item, parts.bar_filter.accept, live=not cfg.replay)
                began = time.perf_counter()
                self._step_moment(parts, executor, batch, moment, received)
                if batch:
                    budget.spent(batch[0].timestamp, time.perf_counter() - began, runners)
                if desk.pending.is_set():  # between this moment and the next, on this thread
                    self._show(desk.apply())
            if moment is not None:
                moment.flush()
            if self.stop_event.is_set():
                reason = self._stop_reason
            if portfolio.external:
                self._drain_fills()
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            self.stop_event.set()
            if timer is not None:
                timer.cancel()
            if heartbeat is not None:
                heartbeat.stop()
            self._release(executor)
        self._show(portfolio.on_exit(cfg.on_exit))
        if cfg.on_exit != "keep" and portfolio.external:
            self._drain_fills()
        return reason

    def _step_moment(
        self,
        parts: RunParts,
        executor: Executor,
        batch: list[Any],
        moment: Moment | None,
        received: Sequence[datetime | None] | None = None,
    ) -> None:
        """The bars of one time: runners step (all at once in workers), then bar by bar the
        broker sees the bar and the portfolio takes the steps (``received``: when each live
        bar came, None in a replay)."""
        portfolio, broker = parts.portfolio, parts.broker
        # the broker's news first (before any runner steps), shown with the first bar
        opening = portfolio.begin_moment(batch[0].timestamp) if len(batch) > 1 else []
        executor.prefetch(batch)
        for bar, at in zip(batch, received or [None] * len(batch), strict=True):
            parts.watch.on_bar(bar.symbol, bar.timestamp)
            if broker is not None:
                broker.on_bar(bar)
            events, opening = opening + portfolio.on_bar(bar, at), []
            if not self.config.replay:  # a live moment is durable before the next is awaited
                parts.ledger.flush()
            self.bars_seen += 1
            if moment is None:
                self._show(events)
            else:
                moment.add(bar.timestamp, events)
        if len(batch) > 1:
            portfolio.end_moment(batch[-1].timestamp)

    def _executor(self, parts: RunParts) -> Executor:
        """Where the runners step (``RunConfig.executor``): chosen once the run has started."""
        cfg = self.config
        return create_executor(
            cfg.executor,
            len(parts.portfolio.all_sleeves()),
            respawn=parts.respawn,
            say=self._say,
            workers=cfg.workers,
            ray_address=cfg.ray_address,
        )

    def _release(self, executor: Executor) -> None:
        """The runners come back to this process (the exit policy and summary read them)."""
        try:
            executor.detach()
        finally:
            executor.close()
            self.portfolio.executor = None

    def stop(self, reason: str = "stopped") -> None:
        """End the run after the current bar (from any thread): duration, SIGTERM, Ctrl-C."""
        if not self.stop_event.is_set():
            self._stop_reason = reason
        self.stop_event.set()
        if self._parts is not None:
            self._parts.source.stop()

    def summary(self) -> RunSummary:
        """Why the run ended, its bars, each strategy's row and the broker account."""
        if not self.started or self.phase == "closed":
            raise LifecycleError(
                f"No summary: the run is '{self.phase}'"
                + (" and was never started." if not self.started else "; ask before close().")
            )
        broker = self.broker
        account = broker.get_account_info() if broker is not None else None
        return RunSummary(
            reason=self.reason or "not run",
            bars=self.bars_seen,
            strategies=self.portfolio.strategy_summary(),
            account={"equity": account.equity, "cash": account.cash} if account else None,
        )

    def close(self, reason: str | None = None) -> None:
        """End the run in the ledger (``reason``, else why :meth:`run` ended, else "not
        started"), disconnect the broker and close the source. Safe to call more than once."""
        if self.phase == "closed":
            return
        self.phase = "closed"
        parts = self._parts
        if parts is None:
            return
        parts.ledger.end_run(parts.run_id, reason or self.reason or "not started")
        if parts.broker is not None:
            parts.broker.disconnect()
        parts.source.close()

    def __enter__(self) -> App:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------------
    def _step(self, step: str, after: str) -> None:
        if self.phase != after:
            raise LifecycleError(
                f"App.{step}() cannot come now: the run is '{self.phase}' and {step} needs "
                f"'{after}'. Call build(), confirm(), start(), run() in that order, once each, "
                "or execute() for all four."
            )

    def _equity(self) -> float:
        """The account's equity now (the paper account's, or the configured cash)."""
        broker = self.broker
        return broker.get_account_info().equity if broker is not None else self.config.cash

    def _say(self, text: str) -> None:
        if self.display is not None:
            self.display.line(text)

    def _show(self, events: list[Any]) -> None:
        """Events, alerts and the portfolio panel, after each bar."""
        portfolio = self.portfolio
        alerts, portfolio.alerts = portfolio.alerts, []
        if self.display is None or not self.show_events:
            return
        if events:
            self.display.events(events)
        for alert in alerts:
            self.display.line(f"🚨 {alert}")
        self.display.portfolio(panel_data(portfolio, self.broker, self.config.mode))

    def _show_moment(self, when: Any, bars: int, events: list[Any]) -> None:
        portfolio = self.portfolio
        alerts, portfolio.alerts = portfolio.alerts, []
        if self.display is None or not self.show_events:
            return
        self.display.moment(when, bars, events)
        for alert in alerts:
            self.display.line(f"🚨 {alert}")
        self.display.portfolio(panel_data(portfolio, self.broker, self.config.mode))

    def _drain_fills(self, quiet: float = 0.6, limit: float = 3.0) -> None:
        """Fills that arrive after the last bar (the broker answers asynchronously): wait while
        a market order is still working, and until no fill has come for ``quiet`` seconds (at
        most ``limit`` in all). Later ones are applied by the next start's reconciliation."""
        portfolio = self.portfolio
        start = last = time.monotonic()
        while time.monotonic() - start < limit and (
            time.monotonic() - last < quiet or portfolio.market_orders_working()
        ):
            events = portfolio.poll_fills()
            if events:
                last = time.monotonic()
                if self.display is not None and self.show_events:
                    self.display.events(events)
            time.sleep(0.1)
