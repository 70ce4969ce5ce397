"""One run, wired end to end: data source -> runners -> portfolio -> broker -> ledger.

:class:`Trader` is what ``stratequeue --strategy ...`` and ``stratequeue replay`` both drive;
the two differ only in the data source (live feed or CSV) and the pacing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import plugins
from .brokers import BrokerFactory
from .brokers.base import BaseBroker, BookPricedBroker, BrokerConfig
from .data import create_data_source
from .data.base import BarFilter, BaseDataSource, bars_to_frame
from .display import Display
from .engine.flatten import (
    add_capital,
    close_now,
    close_positions,
    drop_order,
    flatten_inherited,
    set_units,
)
from .errors import BrokerError, UsageError
from .ledger import Ledger
from .portfolio import Portfolio, Sleeve
from .portfolio.config import StrategySpec

__all__ = ["RunConfig", "Trader", "choose_broker"]

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    strategies: Sequence[StrategySpec]
    symbols: Sequence[str]
    data_source: str = "demo"
    granularity: str = "1m"
    mode: str = "paper"  # paper | live | signals
    broker: str | None = None
    broker_options: Mapping[str, Any] = field(default_factory=dict)  # the broker plugin's params
    duration: float | None = None  # minutes
    lookback: int | None = None
    db: Path | str = ":memory:"
    cash: float = 100_000.0  # the paper broker's starting cash
    backtest_options: Mapping[str, Any] = field(default_factory=dict)  # commission, spread, ...
    data_options: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    replay: bool = False  # CSV replay: the first `lookback` rows are history (adopted if paper)
    rebalance: str = "keep"  # allocation changed since the last run: keep positions, or close them
    risk: Any = None  # stratequeue.risk.RiskConfig
    on_exit: str = "keep"  # keep | cancel | flatten
    stale_after: int = 3  # granularity periods without a bar before a symbol's trading pauses


def paper_account_path(db: Path | str) -> Path:
    """The local paper broker's account file, kept next to the ledger."""
    path = Path(db)
    return path.with_name(path.stem + ".paper-account.sqlite")


def choose_broker(
    mode: str, requested: str | None, env: Mapping[str, str]
) -> tuple[str, str | None]:
    """Pick the broker for ``mode``; returns (name, a note to show the user or None).

    Paper: the requested broker, else the first plugin broker with paper credentials, else the
    built-in paper broker (said in one line). Live: the requested broker or the one with live
    credentials; never the paper broker, never paper credentials.
    """
    registry = plugins.registry("brokers")
    if requested:
        cls = registry.get(requested)
        status = cls.credential_status(env)
        if mode == "live" and not status.live:
            raise BrokerError(
                f"--live needs live credentials for '{requested}'; none were found. "
                f"See: stratequeue --broker-setup {requested}"
            )
        if mode == "live" and requested == "paper":
            raise UsageError(
                "The paper broker cannot trade live. Drop --live, or pick a real broker."
            )
        return requested, None
    others = [n for n in registry.names() if n != "paper"]
    if mode == "live":
        live = [n for n in others if registry.get(n).credential_status(env).live]
        if not live:
            raise BrokerError(
                "--live needs live broker credentials and none were found "
                "(e.g. ALPACA_API_KEY, ALPACA_SECRET_KEY, ALPACA_BASE_URL). "
                "See: stratequeue --broker-status"
            )
        return live[0], None
    paper = [n for n in others if registry.get(n).credential_status(env).paper]
    if paper:
        return paper[0], None
    return "paper", "No paper credentials of any broker plugin found: using the local paper broker."


class Trader:
    def __init__(
        self, config: RunConfig, display: Display | None = None, *, show_events: bool = True
    ) -> None:
        self.config = config
        self.display = display
        self.show_events = show_events
        self.stop_event = threading.Event()
        self.source: BaseDataSource | None = None
        self.broker: BaseBroker | None = None
        self.ledger: Ledger | None = None
        self.portfolio: Portfolio | None = None
        self.bars_seen = 0
        self.run_id = 0
        self.resumed = 0
        self.stop_reason = "stopped"
        self.fills = "book"
        self._pending: list[tuple[Sleeve, Any]] = []  # warm-up orders, sent by start()
        self._went_live_at_build = False  # a bar after the warm-up was processed before
        self.adopt_warmup = False

    # -- set-up ---------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if self.display is not None:
            self.display.line(text)

    def build(self) -> None:
        """Connect, open the ledger and rebuild or warm up every strategy's book. Reads the
        broker account and changes nothing in it: :meth:`start` does that."""
        cfg = self.config
        extractor = plugins.registry("signal_extractors").get("backtesting")()
        loaded = [(spec, extractor.load(spec.file)) for spec in cfg.strategies]

        self.source = create_data_source(
            cfg.data_source, cfg.granularity, cfg.env, **cfg.data_options
        )
        if cfg.mode == "signals":
            broker_name = "none"
        else:
            broker_name, note = choose_broker(cfg.mode, cfg.broker, cfg.env)
            if note:
                self._say(note)
            params: dict[str, Any] = {"cash": cfg.cash, **cfg.broker_options}
            if broker_name == "paper" and str(cfg.db) != ":memory:":
                params["path"] = paper_account_path(cfg.db)
            self.broker = BrokerFactory.create_broker(
                broker_name,
                BrokerConfig(
                    broker_name,
                    paper_trading=cfg.mode != "live",
                    credentials=dict(cfg.env),
                    additional_params=params,
                ),
            )
            if not self.broker.connect():
                raise BrokerError(f"Could not connect to broker '{broker_name}'.")
        self.fills = (
            "external"
            if self.broker is not None and not isinstance(self.broker, BookPricedBroker)
            else "book"
        )
        # A replay adopts its warm-up's trades into a book-priced account. A real broker's
        # account cannot be given past fills: a replay against one starts flat, as a live run.
        self.adopt_warmup = cfg.replay and self.fills == "book"
        account_equity = (
            self.broker.get_account_info().equity if self.broker is not None else cfg.cash
        )
        self.ledger = Ledger(cfg.db)
        self.run_id = self.ledger.start_run(
            mode=cfg.mode,
            broker=broker_name,
            data_source=cfg.data_source,
            granularity=cfg.granularity,
            symbols=cfg.symbols,
            account_equity=account_equity,
        )
        self.portfolio = Portfolio(ledger=self.ledger, broker=self.broker, run_id=self.run_id)
        if cfg.risk is not None:
            from .risk import RiskGuard

            self.portfolio.risk = RiskGuard(cfg.risk)
            self.portfolio.restore_risk()
        from .risk import StaleFeed

        self.stale = StaleFeed(self.source.granularity.seconds, periods=max(cfg.stale_after, 1))

        from .engine import BacktestOptions

        lookback = cfg.lookback
        if lookback is None:
            lookback = self._default_lookback(loaded)
        self.bar_filter = BarFilter(self.source.granularity)
        pending: list[tuple[Sleeve, Any]] = []
        went_live = self._went_live_at_build = self._went_live()
        previous = {row["strategy_id"]: row["allocation"] for row in self.ledger.strategies()}
        for symbol in cfg.symbols:
            recorded = self.ledger.bars(symbol)
            fresh = [
                (spec, ls)
                for spec, ls in loaded
                if self.ledger.sleeve(spec.strategy_id, symbol) is None
            ]
            history: list[Any] = []
            if fresh:
                count = lookback
                history = list(
                    self.bar_filter.filter(
                        self.source.history(symbol, count), check_future=not cfg.replay
                    )
                )
                with self.ledger.transaction():
                    for bar in history:
                        self.ledger.record_bar(bar)
            elif cfg.replay:
                self.source.history(
                    symbol, len(recorded)
                )  # resume the file after what was processed
            if recorded:  # fills applied before the next bar are recorded as after this one
                self.portfolio.last_time[symbol] = recorded[-1].timestamp
                self.portfolio.last_price[symbol] = recorded[-1].close
                self.bar_filter.last[symbol] = max(
                    recorded[-1].timestamp, self.bar_filter.last.get(symbol, recorded[-1].timestamp)
                )
            for spec, strategy in loaded:
                capital = spec.allocation * account_equity / len(cfg.symbols)
                row = self.ledger.sleeve(spec.strategy_id, symbol)
                if row is not None:
                    sleeve = self._rebuild(extractor, spec, strategy, symbol, row, recorded)
                    self.portfolio.add(sleeve)
                    self.resumed += 1
                    if not went_live:  # a start cut off before it committed its warm-up orders
                        pending.append((sleeve, self._uncommitted(sleeve)))
                    old = previous.get(spec.strategy_id)
                    if old is not None and abs(old - spec.allocation) > 1e-12:
                        with self.ledger.transaction():
                            self._rebalance(
                                sleeve,
                                old,
                                account_equity,
                                recorded[-1].timestamp if recorded else None,
                            )
                    continue
                options = BacktestOptions(cash=capital, **cfg.backtest_options)
                runner = extractor.runner(
                    strategy,
                    strategy_id=spec.strategy_id,
                    symbol=symbol,
                    options=options,
                    fills=self.fills,
                )
                if history:
                    runner.warm_start(bars_to_frame(history))
                sleeve = Sleeve(spec, symbol, runner, capital)
                self.portfolio.add(sleeve)
                flattened = bool(history) and not self.adopt_warmup
                with self.ledger.transaction():
                    self.ledger.upsert_strategy(
                        spec.strategy_id,
                        str(spec.file),
                        spec.allocation,
                        spec.allocation * account_equity,
                        cfg.symbols,
                    )
                    self.ledger.add_sleeve(
                        spec.strategy_id,
                        symbol,
                        capital,
                        len(history),
                        history[-1].timestamp if history else None,
                        flattened,
                    )
                intents = list(runner.warm_start_intents)
                if history:
                    intents = self._go_live(sleeve, list(runner.inherited_trades), intents)
                sleeve.closed_before = len(runner.closed_trades)
                pending.append((sleeve, intents))
        if self.resumed:
            self.portfolio.resume_orders()
            self._say(f"Resumed {self.resumed} strategy book(s) from the ledger {cfg.db}.")
        self._pending = pending

    def start(self) -> None:
        """The first requests that change the broker account: reconciliation (orders committed
        before a crash, fills to book, orders to adopt or cancel) and the orders strategies had
        pending when their warm-up ended. A live run calls this only once it is confirmed."""
        assert self.portfolio is not None
        cfg = self.config
        if (
            cfg.replay
            and isinstance(self.broker, BookPricedBroker)
            and not self._went_live_at_build
        ):
            # A replay's books keep their warm-up P&L (that is what makes it exact); book it
            # into the paper account too, so that strategies and account add up. Before the
            # first live bar the books are as the warm-up left them, so a start that follows a
            # crash computes the same amount; the transfer id makes it once.
            books = sum(float(s.runner.equity) for s in self.portfolio.all_sleeves())
            gap = books - self.broker.get_account_info().equity
            if abs(gap) > 1e-9:
                self.broker.deposit(gap, transfer_id="replay-warm-up")
        for note in self.portfolio.reconcile():
            self._say(note)
        if self._pending and self.broker is not None:
            events = self.portfolio.start(self._pending)
            if self.display and self.show_events:
                self.display.events(events)
        self._pending = []

    def _went_live(self) -> bool:
        """Whether a bar after the warm-up was processed, by this start or an earlier one."""
        assert self.ledger is not None
        for row in self.ledger.sleeves():
            last = self.ledger.last_bar_time(row["symbol"])
            warm_until = datetime.fromisoformat(row["first_live"]) if row["first_live"] else None
            if last is not None and (warm_until is None or last > warm_until):
                return True
        return False

    def _uncommitted(self, sleeve: Sleeve) -> list[Any]:
        """The warm-up's pending orders still in the rebuilt book that the ledger never got."""
        from .engine.book import ref_of

        assert self.ledger is not None
        committed = self.ledger.intent_orders(sleeve.strategy_id, sleeve.symbol)
        waiting = {ref_of(o) for o in sleeve.runner.orders}
        return [
            i
            for i in sleeve.runner.warm_start_intents
            if i.ref in waiting and i.ref not in committed
        ]

    def _default_lookback(self, loaded: Sequence[tuple[StrategySpec, Any]]) -> int:
        """The largest LOOKBACK of the strategies; for a file without one, the warm-up its
        indicators need, measured on a sample of the first symbol's history (with a warning)."""
        assert self.source is not None
        known = [ls.lookback for _, ls in loaded if ls.lookback is not None]
        if len(known) == len(loaded):
            return max(known)
        from .engine import default_lookback

        sample = bars_to_frame(self.source.history(self.config.symbols[0], 500))
        return max(
            [*known, *(default_lookback(ls, sample) for _, ls in loaded if ls.lookback is None)]
        )

    def _rebuild(
        self,
        extractor: Any,
        spec: StrategySpec,
        strategy: Any,
        symbol: str,
        row: dict[str, Any],
        recorded: list[Any],
    ) -> Sleeve:
        """Bring a strategy's book back to where it was: the same warm-up, then every bar the
        ledger recorded, with no order sent (they were sent, or are completed by reconcile)."""
        from .engine import BacktestOptions

        options = BacktestOptions(cash=row["capital"], **self.config.backtest_options)
        runner = extractor.runner(
            strategy, strategy_id=spec.strategy_id, symbol=symbol, options=options, fills=self.fills
        )
        warm_until = datetime.fromisoformat(row["first_live"]) if row["first_live"] else None
        history = [b for b in recorded if warm_until is not None and b.timestamp <= warm_until]
        history = history[-row["history_bars"] :] if row["history_bars"] else []
        if history:
            runner.warm_start(bars_to_frame(history))
            if row["flattened"]:
                flatten_inherited(runner)
        closed_before = len(runner.closed_trades)
        capital = float(row["capital"])
        events = self.ledger.sleeve_events(spec.strategy_id, symbol) if self.ledger else []

        def replay_events(until: datetime | None) -> None:
            nonlocal capital
            while events and (
                events[0]["after_ts"] is None
                or until is None
                or datetime.fromisoformat(events[0]["after_ts"]) <= until
            ):
                event = events.pop(0)
                if event["kind"] == "capital":
                    add_capital(runner, event["amount"])
                    capital += event["amount"]
                elif event["kind"] == "close":
                    close_positions(runner)
                elif event["kind"] == "refuse":
                    drop_order(runner, event["ref"])
                elif event["kind"] == "units":
                    set_units(runner, event["ref"], event["amount"])
                elif event["kind"] == "exit":
                    close_now(runner, event["amount"], event["ref"])

        if warm_until is not None:
            replay_events(warm_until)
        fills = self.ledger.external_fills(spec.strategy_id, symbol) if self.ledger else []

        def replay_fills(until: datetime | None) -> None:
            """Real fills, applied between the same bars as when they happened."""
            from .engine.book import ref_of

            while fills and (
                until is None or datetime.fromisoformat(fills[0]["applied_before"]) <= until
            ):
                fill = fills.pop(0)
                if fill["qty"] and fill["ref"] in {ref_of(o) for o in runner.orders}:
                    runner.apply_fill(
                        fill["ref"],
                        abs(fill["qty"]),
                        fill["price"],
                        datetime.fromisoformat(fill["ts"]),
                    )

        for bar in recorded:
            if warm_until is None or bar.timestamp > warm_until:
                replay_fills(bar.timestamp)
                runner.on_bar(bar)
                replay_events(bar.timestamp)
        if runner.bar_count:
            replay_fills(None)
            replay_events(None)
        return Sleeve(spec, symbol, runner, capital, closed_before=closed_before)

    def _rebalance(
        self, sleeve: Sleeve, old_allocation: float, account_equity: float, after: datetime | None
    ) -> None:
        """An allocation changed between runs: move the sleeve's capital by the difference,
        keep its positions unless --rebalance close. Recorded, so later rebuilds repeat it."""
        assert self.ledger is not None
        delta = (
            (sleeve.spec.allocation - old_allocation) * account_equity / len(self.config.symbols)
        )
        add_capital(sleeve.runner, delta)
        sleeve.capital += delta
        self.ledger.add_sleeve_event(sleeve.strategy_id, sleeve.symbol, after, "capital", delta)
        self.ledger.upsert_strategy(
            sleeve.strategy_id,
            str(sleeve.spec.file),
            sleeve.spec.allocation,
            sleeve.spec.allocation * account_equity,
            self.config.symbols,
        )
        note = (
            f"{sleeve.strategy_id} on {sleeve.symbol}: allocation {old_allocation:g} -> "
            f"{sleeve.spec.allocation:g}, capital {delta:+,.2f}"
        )
        if self.config.rebalance == "close" and sleeve.runner.position_size:
            close_positions(sleeve.runner)
            self.ledger.add_sleeve_event(sleeve.strategy_id, sleeve.symbol, after, "close")
            note += f"; closing its {float(sleeve.runner.position_size):+g} at the next bar"
        self._say(note + ".")

    def _go_live(self, sleeve: Sleeve, trades: list[Any], intents: list[Any]) -> list[Any]:
        """The warm-up is over. A replay with the paper broker keeps the backtest's state and
        adopts the trades it holds (the paper account books them as of their entry). A live run,
        or a replay against a real broker's account, trades real
        capital: the book starts flat with its capital, and trades its backtest would still hold
        are not bought (no order is placed for the past). Returns the warm-up's pending orders
        that still apply."""
        if self.adopt_warmup:
            assert self.portfolio is not None
            if trades:
                self.portfolio.adopt(sleeve, trades)
            return intents
        dropped = flatten_inherited(sleeve.runner)
        if trades:
            size = sum(t.size for t in trades)
            self._say(
                f"{sleeve.strategy_id}: its backtest would hold {size:+g} {sleeve.symbol} from before "
                "the start; it starts flat (no orders are placed for the past)."
            )
        return [i for i in intents if i.ref not in dropped]

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> str:
        """Process bars until the duration ends, the feed ends or :meth:`stop`; returns why.
        Then apply ``--on-exit`` (keep, cancel or flatten)."""
        assert self.source is not None and self.portfolio is not None and self.ledger is not None
        cfg = self.config
        timer = None
        if cfg.duration:
            timer = threading.Timer(cfg.duration * 60, self.stop, args=("duration reached",))
            timer.daemon = True
            timer.start()
        watchdog = threading.Thread(target=self._watch_feed, name="stale-feed", daemon=True)
        if not cfg.replay and cfg.stale_after:
            watchdog.start()
        reason = "feed ended"
        try:
            for bar in self.source.stream(list(cfg.symbols)):
                if self.stop_event.is_set():
                    break
                if not self.bar_filter.accept(bar, check_future=not cfg.replay):
                    continue
                self._feed_back(bar)
                if self.broker is not None:
                    self.broker.on_bar(bar)
                events = self.portfolio.on_bar(bar)
                self.bars_seen += 1
                self._show(events)
            if self.stop_event.is_set():
                reason = self.stop_reason
            if self.portfolio.external:
                self._drain_fills()
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            self.stop_event.set()
            if timer is not None:
                timer.cancel()
        self._show(self.portfolio.on_exit(cfg.on_exit))
        if cfg.on_exit != "keep" and self.portfolio.external:
            self._drain_fills()
        return reason

    def _show(self, events: list[Any]) -> None:
        """Events, alerts and the portfolio panel, after each bar."""
        assert self.portfolio is not None
        alerts, self.portfolio.alerts = self.portfolio.alerts, []
        if self.display is None or not self.show_events:
            return
        if events:
            self.display.events(events)
        for alert in alerts:
            self.display.line(f"🚨 {alert}")
        self.display.portfolio(self.panel())

    def panel(self) -> dict[str, Any]:
        """What the portfolio panel shows: account value, cash, positions, strategies, mode."""
        assert self.portfolio is not None
        rows = self.portfolio.strategy_summary()
        account = (
            self.broker.get_account_info() if isinstance(self.broker, BookPricedBroker) else None
        )
        equity = account.equity if account else sum(r["equity"] for r in rows)
        cash = (
            account.cash
            if account
            else sum(float(s.runner.cash) for s in self.portfolio.all_sleeves())
        )
        risk = self.portfolio.risk
        active = sum(1 for r in rows if risk is None or not risk.killed(r["strategy_id"]))
        return {
            "equity": equity,
            "cash": cash,
            "positions": sum(1 for r in rows for q in r["positions"].values() if q),
            "strategies": (active, len(rows)),
            "mode": self.config.mode,
            "broker": self.broker.display_name or self.broker.name if self.broker else "none",
            "pnl": {r["strategy_id"]: r["pnl"] for r in rows},
            "hypothetical": self.config.mode == "signals",
        }

    def _feed_back(self, bar: Any) -> None:
        """A bar for a symbol whose feed had gone stale: trading resumes, and the user is told."""
        assert self.portfolio is not None
        self.stale.on_bar(bar.symbol, bar.timestamp + self.source.granularity.timedelta)  # type: ignore[union-attr]
        if bar.symbol in self.portfolio.paused:
            self.portfolio.paused.discard(bar.symbol)
            self.portfolio.alerts.append(f"{bar.symbol}: bars are back; trading resumed.")
            log.warning("%s: bars are back; trading resumed", bar.symbol)

    def _watch_feed(self) -> None:
        """No bar for ``stale_after`` granularity periods: pause new orders on that symbol."""
        assert self.portfolio is not None
        self.stale.expect(self.config.symbols, datetime.now(UTC))
        while not self.stop_event.wait(1.0):
            for symbol in self.stale.stale(datetime.now(UTC)) - self.portfolio.paused:
                self.portfolio.paused.add(symbol)
                message = (
                    f"{symbol}: no bar for {self.config.stale_after} periods of "
                    f"{self.config.granularity}; trading paused until bars come back."
                )
                log.warning(message)
                if self.display is not None:
                    self.display.line(f"⏸  {message}")

    def _drain_fills(self, quiet: float = 0.6, limit: float = 3.0) -> None:
        """Fills that arrive after the last bar (the broker answers asynchronously): wait while
        a market order is still working, and until no fill has come for ``quiet`` seconds (at
        most ``limit`` in all). Later ones are applied by the next start's reconciliation."""
        assert self.portfolio is not None
        start = last = time.monotonic()
        while time.monotonic() - start < limit and (
            time.monotonic() - last < quiet or self.portfolio.market_orders_working()
        ):
            events = self.portfolio.poll_fills()
            if events:
                last = time.monotonic()
                if self.display is not None and self.show_events:
                    self.display.events(events)
            time.sleep(0.1)

    def stop(self, reason: str = "stopped") -> None:
        """End the run after the current bar (from any thread): duration, SIGTERM, Ctrl-C."""
        if not self.stop_event.is_set():
            self.stop_reason = reason
        self.stop_event.set()
        if self.source is not None:
            self.source.stop()

    def close(self, reason: str) -> None:
        if self.ledger is not None:
            self.ledger.end_run(self.run_id, reason)
        if self.broker is not None:
            self.broker.disconnect()
        if self.source is not None:
            self.source.close()
