"""Subcommands: replay, plugins, status, export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .main import cli, resolve_db
from .scale_options import executor_config, executor_options
from .shared_options import (
    extractor_option,
    fractional_unit_option,
    rebalance_option,
    risk_config,
    risk_options,
)


def _commission(text: str) -> float | tuple[float, float]:
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise UsageError(
            f"--commission '{text}' is not a number: use a fraction (0.002) or 'fixed,relative' (1,0.001)."
        ) from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return (parts[0], parts[1])
    raise UsageError(
        f"--commission '{text}': use a fraction (0.002) or 'fixed,relative' (1,0.001)."
    )


def trades_table(ledger: Any, *, with_strategy: bool) -> Any:
    """The ledger's trades with backtesting.py's ``_trades`` columns (closed, then open)."""
    import pandas as pd

    rows = ledger.trades()
    frame = pd.DataFrame(
        {
            "Size": [r["size"] for r in rows],
            "EntryBar": [r["entry_bar"] for r in rows],
            "ExitBar": [r["exit_bar"] for r in rows],
            "EntryPrice": [r["entry_price"] for r in rows],
            "ExitPrice": [r["exit_price"] for r in rows],
            "SL": [r["sl"] for r in rows],
            "TP": [r["tp"] for r in rows],
            "PnL": [r["pnl"] for r in rows],
            "Commission": [r["commission"] for r in rows],
            "ReturnPct": [r["return_pct"] for r in rows],
            # a broker's fill times carry microseconds, bar times do not: ISO 8601 either way
            "EntryTime": pd.to_datetime(
                [r["entry_time"] for r in rows], utc=True, format="ISO8601"
            ),
            "ExitTime": pd.to_datetime([r["exit_time"] for r in rows], utc=True, format="ISO8601"),
            "Tag": [r["tag"] for r in rows],
        }
    )
    frame.insert(12, "Duration", frame["ExitTime"] - frame["EntryTime"])
    if with_strategy:
        frame.insert(0, "Strategy", [r["strategy_id"] for r in rows])
    return frame


@cli.command()
@click.option("--strategy", type=click.Path(dir_okay=False), help="A backtesting.py strategy file.")
@click.option(
    "--strategies", type=click.Path(dir_okay=False), help="A strategies.txt file (shared account)."
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(),
    help="OHLCV CSV file, or a folder of them: one per symbol, named SYMBOL.csv.",
)
@click.option("--symbol", default=None, help="Symbol name for the data [default: the file's name].")
@click.option(
    "--cash", type=click.FloatRange(min=0, min_open=True), default=10_000.0, show_default=True
)
@click.option("--commission", default="0", show_default=True, help="Fraction, or 'fixed,relative'.")
@click.option("--spread", type=float, default=0.0, show_default=True)
@click.option(
    "--margin", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0, show_default=True
)
@click.option("--trade-on-close", is_flag=True)
@click.option("--hedging", is_flag=True)
@click.option("--exclusive-orders", is_flag=True)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Bars taken as history before trading starts (warm start).",
)
@click.option(
    "--trades-out", type=click.Path(dir_okay=False), help="Write the executed trades as CSV."
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="Keep the ledger in this file [default: in memory].",
)
@rebalance_option
@fractional_unit_option
@extractor_option
@risk_options
@executor_options
def replay(**opts: Any) -> None:
    """Run the LIVE code path over a CSV file as fast as it goes.

    csv data -> runner -> portfolio -> paper broker -> ledger; for a deterministic strategy the
    trades equal Backtest(df, Strategy, finalize_trades=False, same options).run()._trades.
    """
    from ..app import App, RunConfig
    from ..display import Display
    from ..portfolio.config import parse_strategies_file, single_strategy

    if bool(opts["strategy"]) == bool(opts["strategies"]):
        raise UsageError("replay needs exactly one of --strategy FILE or --strategies FILE.")
    specs = (
        parse_strategies_file(opts["strategies"])
        if opts["strategies"]
        else [single_strategy(opts["strategy"])]
    )
    symbols = _replay_symbols(opts["data_path"], opts["symbol"])
    config = RunConfig(
        strategies=specs,
        symbols=symbols,
        data_source="csv",
        granularity="1d",
        mode="paper",
        broker="paper",
        lookback=opts["warmup"],
        db=opts["db"] or ":memory:",
        cash=opts["cash"],
        backtest_options={
            "commission": _commission(opts["commission"]),
            "spread": opts["spread"],
            "margin": opts["margin"],
            "trade_on_close": opts["trade_on_close"],
            "hedging": opts["hedging"],
            "exclusive_orders": opts["exclusive_orders"],
        },
        data_options={"path": opts["data_path"]},
        fractional_unit=opts["fractional_unit"],
        replay=True,
        rebalance=opts["rebalance"],
        risk=risk_config(opts),
        extractor=opts["extractor"],
        **executor_config(opts),
    )
    display = Display(mode_label="replay", broker_label="paper")
    with App(config, display, show_events=False) as app:
        started = time.perf_counter()
        app.execute()
        elapsed = time.perf_counter() - started
        trades = trades_table(app.ledger, with_strategy=bool(opts["strategies"]))
        if opts["trades_out"]:
            trades.to_csv(opts["trades_out"], index=False)
        summary = app.summary()
        assert summary.account is not None  # the paper broker's
        equity = summary.account["equity"]
        closed = int(trades["ExitBar"].notna().sum())
        display.line(
            f"Replayed {summary.bars} bars of {symbols[0] if len(symbols) == 1 else f'{len(symbols)} symbols'} in {elapsed:.2f}s "
            f"({summary.bars / elapsed if elapsed else 0:,.0f} bars/s): {closed} closed trades, "
            f"{len(trades) - closed} open; equity ${equity:,.2f} "
            f"({equity / opts['cash'] - 1:+.2%})."
        )
        if len(specs) > 1:
            display.summary(summary.strategies, summary.account)
        if opts["trades_out"]:
            display.line(f"Trades written to {opts['trades_out']}.")


def _replay_symbols(data: str, symbol: str | None) -> list[str]:
    """The symbol of a file (``--symbol`` or its name), or of each CSV file in a folder."""
    from ..data.csv_source import folder_symbols

    if Path(data).is_dir():
        if symbol:
            raise UsageError(
                f"--symbol {symbol} names one file's symbol; {data} is a folder, whose files "
                "are named by symbol. Drop --symbol, or give one file with --data."
            )
        return list(folder_symbols(data))
    return [(symbol or Path(data).stem).upper()]


@cli.command("plugins")
def plugins_command() -> None:
    """List installed plugins: distribution, version and what each registers."""
    from .info import list_plugins

    list_plugins()


@cli.command()
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="Ledger file [default: ~/.stratequeue/ledger.sqlite].",
)
def status(db: str | None) -> None:
    """Each strategy's allocation, positions, P&L and open orders, from the ledger."""
    from .ledger_view import show_status

    show_status(resolve_db(db))


@cli.command()
@click.option("--db", type=click.Path(dir_okay=False), help="Ledger file.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Folder for the files (one per table).",
)
def export(db: str | None, fmt: str, out: str) -> None:
    """Dump every ledger table as CSV or JSON files."""
    from .ledger_view import export_tables

    export_tables(resolve_db(db), fmt, Path(out))
