"""The command group: running strategies is the group's own action (the 0.5 flags);
``replay``, ``plugins``, ``status`` and ``export`` are subcommands, and plugins add more."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import __version__
from .scale_options import executor_options, read_symbols
from .shared_options import (
    extractor_option,
    fractional_unit_option,
    rebalance_option,
    risk_options,
)

__all__ = ["cli"]


class _Group(click.Group):
    """Loads plugin commands (``register_commands``) when the command list is needed."""

    _loaded = False

    def _load_plugin_commands(self) -> None:
        if not self._loaded:
            self._loaded = True
            from ..plugins import get_plugin_manager

            get_plugin_manager().hook.register_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command


@click.group(
    cls=_Group,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--strategy",
    "strategy",
    type=click.Path(dir_okay=False),
    help="A backtesting.py strategy file.",
)
@click.option(
    "--strategies",
    "strategies",
    type=click.Path(dir_okay=False),
    help="A strategies.txt file: filename,strategy_id,allocation lines.",
)
@click.option("--symbols", help="Comma-separated symbols (AAPL,MSFT,BTC), or @FILE: one per line.")
@click.option(
    "--data-source",
    default=None,
    help=(
        "Where bars come from [default: demo; with --paper and a broker that has no paper "
        "trading, its own data source]."
    ),
)
@click.option(
    "--data", "data_path", help="CSV file (or template with {symbol}) for --data-source csv."
)
@click.option(
    "--granularity", default="1m", show_default=True, help="Bar size: 1s, 1m, 5m, 15m, 30m, 1h, 1d."
)
@click.option(
    "--lookback",
    type=click.IntRange(min=1),
    help="History bars to warm strategies up (default: LOOKBACK).",
)
@click.option("--paper", is_flag=True, help="Paper trading (the default).")
@click.option(
    "--live",
    is_flag=True,
    help="Live trading with real money: needs live credentials and a confirmation.",
)
@click.option("--no-trading", is_flag=True, help="Print signals only; send no orders.")
@click.option("--yes", is_flag=True, help="Confirm --live without a prompt (for unattended runs).")
@click.option("--broker", help="Broker to use (default: detected from credentials).")
@click.option(
    "--cash",
    type=click.FloatRange(min=0, min_open=True),
    default=100_000.0,
    show_default=True,
    help="Starting cash of the local paper broker.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Minutes to run (fractions allowed).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="Ledger file [default: ~/.stratequeue/ledger.sqlite].",
)
@rebalance_option
@fractional_unit_option
@extractor_option
@click.option(
    "--timezone",
    default=None,
    help="Show strategies bar times as naive wall times of this IANA zone "
    "(America/New_York), as exchange-local CSVs have them [default: aware UTC; a strategy "
    "file's TIMEZONE].",
)
@click.option(
    "--on-exit",
    type=click.Choice(["keep", "cancel", "flatten"]),
    default="keep",
    show_default=True,
    help="When the run ends: leave open orders, cancel them, or cancel and close every position.",
)
@click.option(
    "--stale-after",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Pause a symbol's trading after this many bar periods without a bar (0: never).",
)
@risk_options
@executor_options
@click.option("--verbose", "-v", is_flag=True, help="Log every step.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Console and log file: text, or one JSON object per line.",
)
@click.option("--list-brokers", is_flag=True, help="List the installed brokers.")
@click.option("--broker-status", is_flag=True, help="Show which broker credentials are set.")
@click.option("--broker-setup", metavar="NAME|all", help="How to set up a broker's credentials.")
@click.option("--data-setup", metavar="NAME", help="How to set up a data source's key.")
@click.option("--list-granularities", is_flag=True, help="List granularities per data source.")
@click.version_option(__version__, "--version", prog_name="stratequeue")
@click.pass_context
def cli(ctx: click.Context, **opts: object) -> None:
    """Run unmodified backtesting.py strategies live: paper by default.

    \b
      stratequeue --strategy examples/strategies/sma.py --symbols AAPL --data-source demo
      stratequeue --strategies strategies.txt --symbols AAPL,MSFT --no-trading
      stratequeue replay --strategy sma.py --data GOOG.csv --trades-out trades.csv
    """
    from ..ledger import default_db_path
    from ..logs import LOG_FILE_NAME, configure_logging

    db = opts["db"] if opts["db"] and opts["db"] != ":memory:" else default_db_path()
    configure_logging(
        verbose=bool(opts["verbose"]),
        log_format=str(opts["log_format"]),
        log_file=Path(str(db)).parent / LOG_FILE_NAME,
    )
    if ctx.invoked_subcommand is not None:
        return
    from . import info

    if opts["list_brokers"]:
        return info.list_brokers()
    if opts["broker_status"]:
        return info.broker_status()
    if opts["broker_setup"]:
        return info.broker_setup(str(opts["broker_setup"]))
    if opts["data_setup"]:
        return info.data_setup(str(opts["data_setup"]))
    if opts["list_granularities"]:
        return info.list_granularities()
    if not opts["strategy"] and not opts["strategies"]:
        click.echo(ctx.get_help())
        return
    from .run import run_strategies

    run_strategies(opts, read_symbols(opts["symbols"]))  # type: ignore[arg-type]


def resolve_db(value: object) -> Path:
    from ..ledger import default_db_path

    return Path(str(value)) if value else default_db_path()


from . import commands, control  # noqa: E402,F401  (register subcommands, operator controls)

os.environ.setdefault("TQDM_DISABLE", "1")
from . import report, verify  # noqa: E402,F401  (register the report and verify commands)
