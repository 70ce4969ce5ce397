"""``stratequeue report``: the HTML report of a ledger."""

from __future__ import annotations

from pathlib import Path

import click

from .main import cli, resolve_db


@cli.command()
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="Ledger file [default: ~/.stratequeue/ledger.sqlite].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="report.html",
    show_default=True,
    help="Where to write the HTML file (works offline: bokeh is inlined).",
)
def report(db: str | None, out: str) -> None:
    """Equity curves, drawdowns, statistics and trades from the ledger, as one HTML file."""
    from ..display import make_console
    from ..report import write_report

    written = write_report(resolve_db(db), Path(out))
    make_console().print(
        f"Report written to {written.path}: {len(written.curves)} equity curves "
        f"({', '.join(written.curves)}).",
        markup=False,
    )
