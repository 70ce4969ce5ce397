"""Options shared by a live run and ``replay``: --rebalance, and the risk limits (a config
file plus account-level flags)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

__all__ = [
    "extractor_option",
    "fractional_unit_option",
    "rebalance_option",
    "risk_config",
    "risk_options",
]

DEFAULT_CONFIG = "stratequeue.toml"

_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--max-order-value", "max_order_value", float, "Refuse orders worth more than this ($)."),
    (
        "--max-position-value",
        "max_position_value",
        float,
        "Refuse orders that grow a position past this ($ per symbol).",
    ),
    (
        "--max-orders-per-minute",
        "max_orders_per_minute",
        int,
        "Refuse orders beyond this many per minute.",
    ),
    (
        "--max-daily-loss",
        "max_daily_loss",
        float,
        "Kill switch: stop opening positions after this loss in a UTC day ($).",
    ),
    (
        "--max-drawdown",
        "max_drawdown",
        float,
        "Kill switch: stop opening positions at this drawdown (0.2 = 20%).",
    ),
]


extractor_option = click.option(
    "--extractor",
    default="backtesting",
    show_default=True,
    metavar="NAME",
    help="Signal extractor that reads every strategy file of the run (stratequeue plugins "
    "lists them): backtesting for backtesting.py strategies, or a plugin's.",
)

rebalance_option = click.option(
    "--rebalance",
    type=click.Choice(["keep", "close"]),
    default="keep",
    show_default=True,
    help="Allocations changed since the last run on --db: keep positions, or close them.",
)


def _fractional_unit(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from ..engine.units import check_unit

    return check_unit(value, "--fractional-unit")


fractional_unit_option = click.option(
    "--fractional-unit",
    callback=_fractional_unit,
    metavar="UNIT",
    help="Trade whole multiples of UNIT (1e-8: satoshis of BTC), as backtesting.py's "
    "FractionalBacktest does [default: the strategy file's FRACTIONAL_UNIT].",
)


def risk_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --config, the account-level limit flags, --allowed-symbols and --flatten-on-kill."""
    command = click.option(
        "--flatten-on-kill",
        is_flag=True,
        default=None,
        help="When a kill switch trips, also close the positions.",
    )(command)
    command = click.option(
        "--allowed-symbols", help="Only these symbols may be traded (comma-separated)."
    )(command)
    for flag, _name, kind, text in reversed(_FLAGS):
        command = click.option(flag, type=kind, help=text)(command)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help=f"Risk limits file [default: ./{DEFAULT_CONFIG} when present].",
    )(command)


def risk_config(opts: Mapping[str, Any]) -> Any:
    """The RiskConfig from the file (if any) with the flags overriding its [risk] table; None
    when no limit is set at all."""
    from ..risk import RiskConfig, RiskLimits, load_risk_config

    path = opts.get("config_path") or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    config = load_risk_config(path) if path else RiskConfig()
    overrides: dict[str, Any] = {
        name: opts[name] for _f, name, _k, _t in _FLAGS if opts.get(name) is not None
    }
    if opts.get("allowed_symbols"):
        overrides["allowed_symbols"] = frozenset(
            s.strip().upper() for s in str(opts["allowed_symbols"]).split(",") if s.strip()
        )
    if opts.get("flatten_on_kill"):
        overrides["flatten_on_kill"] = True
    if overrides:
        config = replace(config, account=replace(config.account, **overrides))
    if config.account == RiskLimits() and not config.strategies:
        return None
    return config
