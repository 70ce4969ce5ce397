"""``stratequeue verify``: did the run trade as its backtest would, and why not where it did not."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .main import cli, resolve_db


@cli.command()
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="Ledger file [default: ~/.stratequeue/ledger.sqlite].",
)
@click.option("--strategy", "strategy_id", default=None, help="Only this strategy id.")
@click.option("--symbol", default=None, help="Only this symbol.")
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Also write the HTML report."
)
@click.option(
    "--data-source",
    default=None,
    help="Also fetch this vendor's history for the run's period and compare the bars.",
)
def verify(
    db: str | None,
    strategy_id: str | None,
    symbol: str | None,
    out: str | None,
    data_source: str | None,
) -> None:
    """Re-run each strategy's backtest on the bars the run saw and compare the trades.

    Exit code 0: identical, or every difference explained; 1: an unexplained difference;
    2: a usage error (unknown strategy, empty ledger, strategy file changed since the run).
    """
    from ..display import make_console
    from ..verify import verify_ledger
    from ..verify.text import render_text

    path = resolve_db(db)
    verification = verify_ledger(path, strategy_id, symbol)
    if data_source:
        from ..verify.drift import check_drift

        verification.drift = check_drift(verification, data_source)
    console = make_console()
    for line in render_text(verification):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if out:
        from ..report import write_report

        written = write_report(path, Path(out), verification=verification)
        console.print(f"Report written to {written.path}.", markup=False)
    sys.exit(verification.exit_code)
