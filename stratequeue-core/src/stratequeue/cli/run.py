"""``stratequeue --strategy ... --symbols ...``: a live (paper by default) run."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

import click

from ..display import Display
from ..errors import UsageError
from ..portfolio.config import StrategySpec, parse_strategies_file, single_strategy
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


def _confirm_live(trader: Any, assume_yes: bool) -> None:
    """Live mode: show the account and ask for its number; refuse without a terminal."""
    account = trader.broker.get_account_info()
    click.echo(
        f"⚠️  LIVE TRADING with REAL MONEY: account {account.account_id}, equity "
        f"${account.equity:,.2f}, broker {trader.broker.name}."
    )
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "--live needs a confirmation: run in a terminal, or pass --yes for unattended runs."
        )
    typed = click.prompt(
        "Type the account number to start live trading", default="", show_default=False
    )
    if typed.strip() != str(account.account_id):
        raise UsageError("The account number did not match; nothing was traded.")


def run_strategies(opts: Mapping[str, Any], symbols: list[str]) -> None:
    from ..trader import RunConfig, Trader
    from .main import resolve_db

    mode = resolve_mode(opts)
    specs = resolve_specs(opts)
    env = dict(os.environ)
    data_options = {"path": opts["data_path"]} if opts.get("data_path") else {}
    config = RunConfig(
        strategies=specs,
        symbols=symbols,
        data_source=opts["data_source"],
        granularity=opts["granularity"],
        mode=mode,
        broker=opts["broker"],
        duration=opts["duration"],
        lookback=opts["lookback"],
        db=resolve_db(opts["db"]),
        cash=opts["cash"],
        env=env,
        data_options=data_options,
        replay=opts["data_source"] == "csv",
        rebalance=opts["rebalance"],
        risk=risk_config(opts),
        on_exit=opts["on_exit"],
        stale_after=opts["stale_after"],
    )
    mode_label = {"paper": "paper", "live": "LIVE", "signals": "signals only"}[mode]
    display = Display(mode_label=mode_label, broker_label="–")
    trader = Trader(config, display)
    trader.build()
    display.broker_label = (
        trader.broker.display_name or trader.broker.name if trader.broker else "no broker"
    )
    try:
        if mode == "live":  # before anything is sent, cancelled or replaced at the broker
            _confirm_live(trader, bool(opts["yes"]))
        trader.start()
    except BaseException:
        trader.close("not started")
        raise
    names = ", ".join(f"{s.strategy_id} ({s.allocation:.0%})" for s in specs)
    display.line(
        f"🚀 {names} on {', '.join(symbols)} · {config.data_source} {config.granularity} bars · "
        f"{mode_label} via {display.broker_label} · ledger {config.db}"
        + (f" · {config.duration:g} min" if config.duration else "")
    )
    previous = signal.signal(signal.SIGTERM, lambda *_: trader.stop("SIGTERM"))
    reason = "error"
    try:
        reason = trader.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        assert trader.portfolio is not None
        account = trader.broker.get_account_info() if trader.broker else None
        display.summary(
            trader.portfolio.strategy_summary(),
            {"equity": account.equity, "cash": account.cash} if account else None,
        )
        display.line(f"⏹  Run ended: {reason}; {trader.bars_seen} bars processed.")
        trader.close(reason)
