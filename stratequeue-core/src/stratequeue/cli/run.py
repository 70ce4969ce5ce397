"""``stratequeue --strategy ... --symbols ...``: a live (paper by default) run."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import click

from .. import plugins
from ..display import Display
from ..errors import UsageError
from ..models import AccountInfo
from ..portfolio.config import StrategySpec, parse_strategies_file, single_strategy
from .scale_options import executor_config
from .shared_options import risk_config

__all__ = ["resolve_mode", "resolve_specs", "run_strategies"]


def resolve_mode(opts: Mapping[str, Any]) -> str:
    if opts["live"] and opts["paper"]:
        raise UsageError(
            "--live and --paper contradict each other. Pass one of them (paper is the default)."
        )
    if opts["no_trading"] and opts["live"]:
        raise UsageError(
            "--no-trading sends no orders, so --live makes no sense with it. Drop one."
        )
    if opts["no_trading"]:
        return "signals"
    return "live" if opts["live"] else "paper"


def resolve_specs(opts: Mapping[str, Any]) -> list[StrategySpec]:
    if opts["strategy"] and opts["strategies"]:
        raise UsageError("Pass either --strategy FILE or --strategies FILE, not both.")
    if opts["strategies"]:
        return parse_strategies_file(opts["strategies"])
    return [single_strategy(opts["strategy"])]


def _confirm_live(account: AccountInfo, broker: str, assume_yes: bool) -> bool:
    """Live mode: show the account and ask for its number; refuse without a terminal."""
    click.echo(
        f"⚠️  LIVE TRADING with REAL MONEY: account {account.account_id}, equity "
        f"${account.equity:,.2f}, broker {broker}."
    )
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "--live needs a confirmation: run in a terminal, or pass --yes for unattended runs."
        )
    typed = click.prompt(
        "Type the account number to start live trading", default="", show_default=False
    )
    if typed.strip() != str(account.account_id):
        raise UsageError("The account number did not match; nothing was traded.")
    return True


def run_strategies(opts: Mapping[str, Any], symbols: list[str]) -> None:
    from ..app import App, RunConfig, replays
    from ..brokers.choose import default_data_source
    from .main import resolve_db

    mode = resolve_mode(opts)
    specs = resolve_specs(opts)
    data_options = {"path": opts["data_path"]} if opts.get("data_path") else {}
    source = opts["data_source"] or default_data_source(mode, opts["broker"])
    config = RunConfig(
        strategies=specs,
        symbols=symbols,
        data_source=source,
        granularity=opts["granularity"],
        mode=mode,
        broker=opts["broker"],
        duration=opts["duration"],
        lookback=opts["lookback"],
        db=resolve_db(opts["db"]),
        cash=opts["cash"],
        env=dict(os.environ),
        data_options=data_options,
        fractional_unit=opts["fractional_unit"],
        timezone=opts.get("timezone"),
        replay=replays(source),
        rebalance=opts["rebalance"],
        risk=risk_config(opts),
        on_exit=opts["on_exit"],
        stale_after=opts["stale_after"],
        extractor=opts["extractor"],
        **executor_config(opts),
    )
    if mode == "live" and plugins.registry("data_sources").get(source).simulated:
        click.echo(
            f"⚠️  --data-source {source}: this LIVE run trades real money on SIMULATED prices."
        )
    mode_label = {"paper": "paper", "live": "LIVE", "signals": "signals only"}[mode]
    display = Display(mode_label=mode_label, broker_label="–")

    def built(app: App) -> None:
        display.broker_label = (
            app.broker.display_name or app.broker.name if app.broker else "no broker"
        )

    def started(app: App) -> None:
        names = ", ".join(f"{s.strategy_id} ({s.allocation:.0%})" for s in specs)
        display.line(
            f"🚀 {names} on {_symbols_label(symbols)} · {config.data_source} {config.granularity} "
            f"bars · {mode_label} via {display.broker_label} · ledger {config.db}"
            + (f" · {config.duration:g} min" if config.duration else "")
        )

    with App(config, display) as app:
        try:
            app.execute(
                lambda account, broker: _confirm_live(account, broker, bool(opts["yes"])),
                on_built=built,
                on_started=started,
            )
        finally:
            if app.started:
                summary = app.summary()
                display.summary(summary.strategies, summary.account)
                display.line(f"⏹  Run ended: {summary.reason}; {summary.bars} bars processed.")


def _symbols_label(symbols: list[str], shown: int = 8) -> str:
    """The run's symbols, or the first few and how many more."""
    if len(symbols) <= shown:
        return ", ".join(symbols)
    return f"{', '.join(symbols[:shown])} and {len(symbols) - shown} more ({len(symbols)} symbols)"
