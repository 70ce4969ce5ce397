"""Building a run: connect the data source and the broker, open the ledger, and warm up or
rebuild every strategy's book. Reads the broker account and changes nothing in it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..brokers.base import BaseBroker, BookPricedBroker
from ..brokers.choose import choose_broker, open_broker
from ..data import create_data_source
from ..data.base import BarFilter, BaseDataSource, bars_to_frame
from ..errors import UsageError
from ..ledger import Ledger
from ..ledger.verification import bars_sha256
from ..portfolio import Portfolio, Sleeve
from ..portfolio.config import StrategySpec
from ..portfolio.rebuild import go_live, rebalance, rebuild_sleeve, uncommitted, went_live
from ..risk import FeedWatch
from ..verify.record import record_run
from .config import RunConfig
from .extractors import choose_extractor, same_extractor

__all__ = ["RunParts", "build_run"]


@dataclass
class RunParts:
    """A built run: its parts, and what :meth:`App.start` still has to do."""

    source: BaseDataSource
    broker: BaseBroker | None
    broker_name: str
    ledger: Ledger
    run_id: int
    portfolio: Portfolio
    watch: FeedWatch
    bar_filter: BarFilter
    #: the warm-up's pending orders per sleeve, sent at start
    pending: list[tuple[Sleeve, Any]] = field(default_factory=list)
    #: a bar after the warm-up had been processed before this start (by an earlier run)
    went_live: bool = False
    #: a replay with a book-priced broker: the account adopts the warm-up's trades
    adopt_warmup: bool = False
    resumed: int = 0
    #: (strategy id, symbol) -> its runner rebuilt from the ledger (a lost worker's runners)
    respawn: Callable[[str, str], Any] | None = None
    #: (strategy id, symbol) -> bars after which an all-NaN indicator is NaN for good
    settles: dict[tuple[str, str], int] = field(default_factory=dict)


def build_run(config: RunConfig, say: Callable[[str], None]) -> RunParts:
    """Build ``config``'s run; notes for the user go to ``say``."""
    cfg = config
    extractor = choose_extractor(cfg.extractor)
    loaded = [(spec, extractor.load(spec.file)) for spec in cfg.strategies]
    source = create_data_source(cfg.data_source, cfg.granularity, cfg.env, **cfg.data_options)
    broker: BaseBroker | None = None
    broker_name = "none"
    if cfg.mode != "signals":
        broker_name, note = choose_broker(cfg.mode, cfg.broker, cfg.env)
        if note:
            say(note)
        broker = open_broker(
            broker_name,
            mode=cfg.mode,
            env=cfg.env,
            cash=cfg.cash,
            options=cfg.broker_options,
            db=cfg.db,
        )
    fills = (
        "external" if broker is not None and not isinstance(broker, BookPricedBroker) else "book"
    )
    account_equity = broker.get_account_info().equity if broker is not None else cfg.cash
    ledger = Ledger(cfg.db)
    for spec in cfg.strategies:
        same_extractor(ledger, spec.strategy_id, extractor.name)
    run_id = ledger.start_run(
        mode=cfg.mode,
        broker=broker_name,
        data_source=cfg.data_source,
        granularity=cfg.granularity,
        symbols=cfg.symbols,
        account_equity=account_equity,
        extractor=extractor.name,
    )
    record_run(ledger, run_id, cfg, loaded, fills)
    portfolio = Portfolio(ledger=ledger, broker=broker, run_id=run_id)
    if cfg.risk is not None:
        from ..risk import RiskGuard

        portfolio.risk = RiskGuard(cfg.risk)
        portfolio.restore_risk()
    run = RunParts(
        source=source,
        broker=broker,
        broker_name=broker_name,
        ledger=ledger,
        run_id=run_id,
        portfolio=portfolio,
        watch=FeedWatch(
            portfolio,
            cfg.symbols,
            source.granularity,
            cfg.stale_after,
            say,
            label=cfg.granularity,
        ),
        bar_filter=BarFilter(source.granularity),
        went_live=went_live(ledger),
        # A replay adopts its warm-up's trades into a book-priced account. A real broker's
        # account cannot be given past fills: a replay against one starts flat, as a live run.
        adopt_warmup=cfg.replay and fills == "book",
    )
    lookback = cfg.lookback if cfg.lookback is not None else _default_lookback(cfg, source, loaded)
    previous = {row["strategy_id"]: row["allocation"] for row in ledger.strategies()}
    for symbol in cfg.symbols:
        _books(run, cfg, symbol, loaded, extractor, fills, lookback, account_equity, previous, say)
    ledger.add_run_event(
        run_id,
        "warm-start" if run.resumed else "start",
        {"resumed_books": run.resumed, "went_live_before": run.went_live},
    )
    run.respawn = _respawner(run, cfg, loaded, extractor, fills)
    if run.resumed:
        portfolio.resume_orders()
        say(f"Resumed {run.resumed} strategy book(s) from the ledger {cfg.db}.")
    return run


def _books(
    run: RunParts,
    cfg: RunConfig,
    symbol: str,
    loaded: Sequence[tuple[StrategySpec, Any]],
    extractor: Any,
    fills: str,
    lookback: int,
    account_equity: float,
    previous: dict[str, float],
    say: Callable[[str], None],
) -> None:
    """Every strategy's book on ``symbol``: rebuilt from the ledger, or warmed up on history."""

    ledger, portfolio = run.ledger, run.portfolio
    # before the history is read: a sample read after it would move a file's cursor
    samples: dict[str, Any] = {}
    settles = {
        spec.strategy_id: settle_after(run.source, symbol, strategy, lookback, samples)
        for spec, strategy in loaded
    }
    run.settles.update({(sid, symbol): settle for sid, settle in settles.items()})
    recorded = ledger.bars(symbol)
    fresh = [spec for spec, _ in loaded if ledger.sleeve(spec.strategy_id, symbol) is None]
    history: list[Any] = []
    if fresh:
        history = list(
            run.bar_filter.filter(run.source.history(symbol, lookback), check_future=not cfg.replay)
        )
        with ledger.transaction():
            for bar in history:
                ledger.record_bar(bar)
    elif cfg.replay:
        run.source.history(symbol, len(recorded))  # resume the file after what was processed
    if recorded:  # fills applied before the next bar are recorded as after this one
        portfolio.last_time[symbol] = recorded[-1].timestamp
        portfolio.last_price[symbol] = recorded[-1].close
        run.bar_filter.last[symbol] = max(
            recorded[-1].timestamp, run.bar_filter.last.get(symbol, recorded[-1].timestamp)
        )
    for spec, strategy in loaded:
        settle = settles[spec.strategy_id]
        row = ledger.sleeve(spec.strategy_id, symbol)
        unit = same_unit(ledger, spec.strategy_id, fractional_unit(cfg, spec, strategy))
        if row is not None:
            runner = make_runner(
                run, cfg, extractor, strategy, spec.strategy_id, symbol, row["capital"], unit, fills,
                settle, say,
            )  # fmt: skip
            sleeve = rebuild_sleeve(runner, spec, symbol, row, recorded, ledger, bars_to_frame)
            portfolio.add(sleeve)
            run.resumed += 1
            if not run.went_live:  # a start cut off before it committed its warm-up orders
                run.pending.append((sleeve, uncommitted(ledger, sleeve)))
            old = previous.get(spec.strategy_id)
            if old is not None and abs(old - spec.allocation) > 1e-12:
                with ledger.transaction():
                    after = recorded[-1].timestamp if recorded else None
                    say(
                        rebalance(
                            ledger,
                            sleeve,
                            old,
                            account_equity,
                            cfg.symbols,
                            after,
                            close=cfg.rebalance == "close",
                        )
                    )
            continue
        capital = spec.allocation * account_equity / len(cfg.symbols)
        runner = make_runner(
            run, cfg, extractor, strategy, spec.strategy_id, symbol, capital, unit, fills, settle,
            say,
        )  # fmt: skip
        if history:
            runner.warm_start(bars_to_frame(history))
        elif len(samples.get(symbol, ())):  # no history: look-ahead checked on the sample
            runner.probe_lookahead(samples[symbol])
        sleeve = Sleeve(spec, symbol, runner, capital)
        portfolio.add(sleeve)
        with ledger.transaction():
            ledger.upsert_strategy(
                spec.strategy_id,
                str(spec.file),
                spec.allocation,
                spec.allocation * account_equity,
                cfg.symbols,
            )
            ledger.add_sleeve(
                spec.strategy_id,
                symbol,
                capital,
                len(history),
                history[-1].timestamp if history else None,
                bool(history) and not run.adopt_warmup,
                bars_sha256(history) if history else None,
            )
        intents = list(runner.warm_start_intents)
        if history:
            intents, note = go_live(
                portfolio,
                sleeve,
                list(runner.inherited_trades),
                intents,
                adopt=run.adopt_warmup,
            )
            if note:
                say(note)
        sleeve.closed_before = len(runner.closed_trades)
        run.pending.append((sleeve, intents))


def settle_after(
    source: BaseDataSource, symbol: str, strategy: Any, lookback: int, samples: dict[str, Any]
) -> int:
    """Bars after which an indicator NaN on every bar so far counts as NaN for good (needing
    no warm-up, as in Backtest.run): the history asked for, or without one (a replay from
    the first bar) the warm-up Backtest.run's rule measures on the first 500 bars."""
    if lookback > 0:
        return lookback
    from ..engine.lookback import measured_warmup

    if symbol not in samples:
        samples[symbol] = bars_to_frame(source.history(symbol, 500))
    sample = samples[symbol]
    return measured_warmup(strategy, sample) if len(sample) else 2


def time_view(
    cfg: RunConfig, source: BaseDataSource, symbol: str, strategy: Any, say: Callable[[str], None]
) -> Any:
    """How the strategy sees bar times: a recorded source's own dates (a CSV's, exactly as a
    backtest over the file has them), else ``--timezone``, else the file's ``TIMEZONE`` (naive
    wall times of that zone), else aware UTC."""
    from ..engine.times import UTC_VIEW, zone_view

    zone = cfg.timezone or getattr(strategy, "timezone", None)
    own = getattr(source, "time_view", None)
    if callable(own):
        if zone:
            say(
                f"{cfg.data_source} bars keep the dates of their file; timezone {zone} is not "
                "applied (a backtest over the file sees them as they are)."
            )
        return own(symbol)
    return zone_view(zone, "--timezone / TIMEZONE") if zone else UTC_VIEW


def _respawner(
    run: RunParts,
    cfg: RunConfig,
    loaded: Sequence[tuple[StrategySpec, Any]],
    extractor: Any,
    fills: str,
) -> Callable[[str, str], Any]:
    """Rebuilds one sleeve's runner from the ledger, as a restart does (rebuild.py)."""

    by_id = {spec.strategy_id: (spec, strategy) for spec, strategy in loaded}

    def respawn(strategy_id: str, symbol: str) -> Any:
        spec, strategy = by_id[strategy_id]
        row = run.ledger.sleeve(strategy_id, symbol)
        assert row is not None  # every sleeve is recorded when it is built
        unit = same_unit(run.ledger, strategy_id, fractional_unit(cfg, spec, strategy))
        recorded = run.ledger.bars(symbol)
        runner = make_runner(
            run, cfg, extractor, strategy, strategy_id, symbol, row["capital"], unit, fills,
            run.settles[(strategy_id, symbol)], lambda _: None,
        )  # fmt: skip
        rebuild_sleeve(runner, spec, symbol, row, recorded, run.ledger, bars_to_frame)
        return runner

    return respawn


def make_runner(
    run: RunParts,
    cfg: RunConfig,
    extractor: Any,
    strategy: Any,
    strategy_id: str,
    symbol: str,
    capital: float,
    unit: float | None,
    fills: str,
    settle: int,
    say: Callable[[str], None],
) -> Any:
    """One sleeve's runner as this run makes it: its capital and unit, the run's Backtest
    options, how it sees bar times, the warm-up rule's settle point and its history bound."""
    from ..engine import BacktestOptions

    runner = extractor.runner(
        strategy,
        strategy_id=strategy_id,
        symbol=symbol,
        options=BacktestOptions(cash=capital, fractional_unit=unit, **cfg.backtest_options),
        fills=fills,
        times=time_view(cfg, run.source, symbol, strategy, say),
    )
    runner.settle_after = settle
    runner.max_history = max_history(cfg, strategy)
    return runner


def max_history(cfg: RunConfig, strategy: Any) -> int | None:
    """Bars a runner keeps for its indicators: ``--max-history``, else the file's
    ``MAX_HISTORY``, else all (exact parity)."""
    if cfg.max_history is not None:
        return cfg.max_history
    module = sys.modules.get(strategy.cls.__module__)
    value = getattr(module, "MAX_HISTORY", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"{strategy.path} sets MAX_HISTORY = {value!r}; it must be a whole number of bars "
            "(at least 10x the longest indicator window keeps decisions unchanged)."
        )
    return value


def fractional_unit(cfg: RunConfig, spec: StrategySpec, strategy: Any) -> float | None:
    """A strategy's fractional unit: its strategies.txt column, else ``--fractional-unit``,
    else its file's ``FRACTIONAL_UNIT``; None: whole units."""
    for unit in (spec.fractional_unit, cfg.fractional_unit):
        if unit is not None:
            return unit
    return getattr(strategy, "fractional_unit", None)


def _default_lookback(
    cfg: RunConfig, source: BaseDataSource, loaded: Sequence[tuple[StrategySpec, Any]]
) -> int:
    """The largest LOOKBACK of the strategies; for a file without one, the warm-up its
    indicators need, measured on a sample of the first symbol's history (with a warning)."""
    known = [ls.lookback for _, ls in loaded if ls.lookback is not None]
    if len(known) == len(loaded):
        return max(known)
    from ..engine import default_lookback

    sample = bars_to_frame(source.history(cfg.symbols[0], 500))
    return max([*known, *(default_lookback(ls, sample) for _, ls in loaded if ls.lookback is None)])


def same_unit(ledger: Ledger, strategy_id: str, unit: float | None) -> float | None:
    """The strategy's fractional unit, the one its books in this ledger were kept in: a restart
    with another unit would read every recorded quantity at the wrong scale."""
    key = f"fractional_unit:{strategy_id}"
    kept = ledger.get_meta(key)
    if kept is None:
        ledger.set_meta(key, repr(unit))
    elif kept != repr(unit):
        raise UsageError(
            f"Strategy '{strategy_id}' traded in this ledger with fractional unit {kept}; this run "
            f"asks for {unit!r}. Run it with the same unit, or start a new ledger with --db."
        )
    return unit
