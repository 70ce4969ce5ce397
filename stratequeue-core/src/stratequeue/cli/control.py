"""Operator controls from another terminal: ``pause``, ``resume``, ``flatten``,
``cancel-orders``, ``risk status|reset`` and ``allocate`` act on a run through its ledger.

Each writes a request to the ledger (``--db``, the run's), waits for the run's acknowledgement
and prints it. No run active on that ledger (no fresh heartbeat): the request waits there and
the run applies it when it next starts. Exit codes: 0 applied (or waiting for the next start),
1 refused by the run or not acknowledged in time, 2 bad input (one line naming it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from ..errors import StrateQueueError, UsageError
from ..ledger import Ledger
from .main import cli, resolve_db

__all__ = ["risk"]


class NotApplied(StrateQueueError):
    """The run refused the request, or did not answer in time. Exit code 1."""


_db = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="The run's ledger file [default: ~/.stratequeue/ledger.sqlite].",
)
_timeout = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the running process's acknowledgement.",
)
_symbol = click.option("--symbol", help="Only this symbol (default: all the strategy's).")


def _ledger(db: str | None) -> tuple[Ledger, Path]:
    path = resolve_db(db)
    if not path.is_file():
        raise UsageError(f"No ledger at '{path}'. Pass the --db file the run writes.")
    ledger = Ledger(path)
    if not ledger.strategies():
        ledger.close()
        raise UsageError(
            f"Ledger '{path}' has no strategies: it is not a run's ledger. Pass the --db the "
            "run writes."
        )
    return ledger, path


def _check(ledger: Ledger, path: Path, strategy: str | None, symbol: str | None) -> None:
    known = [row["strategy_id"] for row in ledger.strategies()]
    if strategy is not None and strategy not in known:
        raise UsageError(
            f"Unknown strategy '{strategy}' in ledger '{path}': its strategies are "
            f"{', '.join(known)}."
        )
    if symbol is not None:
        traded = {
            row["symbol"]
            for row in ledger.sleeves()
            if strategy is None or row["strategy_id"] == strategy
        }
        if symbol not in traded:
            raise UsageError(
                f"Symbol '{symbol}' is not traded by {strategy or 'any strategy'} in ledger "
                f"'{path}' (its symbols: {', '.join(sorted(traded))})."
            )


def _send(
    db: str | None,
    kind: str,
    strategy: str | None,
    symbol: str | None = None,
    args: dict[str, Any] | None = None,
    *,
    timeout: float,
) -> None:
    """Write the request, wait for the acknowledgement, print it."""
    ledger, path = _ledger(db)
    try:
        symbol = symbol.upper() if symbol else None
        _check(ledger, path, strategy, symbol)
        if kind == "allocate":
            _check_allocation(ledger, path, strategy, float((args or {})["fraction"]))
        control_id = ledger.request_control(kind, strategy, symbol, args)
        label = f"#{control_id} {kind}"
        if ledger.active_run() is None:
            click.echo(
                f"{label}: no run is active on '{path}' (no heartbeat); the request waits in "
                "the ledger and applies when the run next starts."
            )
            return
        deadline = time.monotonic() + timeout
        row = ledger.control(control_id)
        while row is not None and row["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            row = ledger.control(control_id)
        if row is None or row["status"] == "pending":
            raise NotApplied(
                f"{label}: no acknowledgement within {timeout:g}s; the request stays in the "
                "ledger and the run applies it at its next bar (or next start)."
            )
        text = (
            f"{label}: {row['status']} after the bar of {row['bar_time'] or '-'}: {row['result']}"
        )
        if row["status"] != "applied":
            raise NotApplied(text)
        click.echo(text)
    finally:
        ledger.close()


def _check_allocation(ledger: Ledger, path: Path, strategy: str | None, fraction: float) -> None:
    others = sum(r["allocation"] for r in ledger.strategies() if r["strategy_id"] != strategy)
    if not 0 < fraction <= 1 or others + fraction > 1 + 1e-9:
        raise UsageError(
            f"Allocation {fraction:g} for {strategy}: the allocations in '{path}' would add up to "
            f"{others + fraction:g}; give a fraction in (0, {max(1 - others, 0):g}]."
        )


@cli.command()
@click.argument("strategy")
@_symbol
@_db
@_timeout
def pause(strategy: str, symbol: str | None, db: str | None, timeout: float) -> None:
    """No new entries from STRATEGY; its resting entry orders are canceled (book and positions
    kept; orders that only reduce a position still go out)."""
    _send(db, "pause", strategy, symbol, timeout=timeout)


@cli.command()
@click.argument("strategy")
@_db
@_timeout
def resume(strategy: str, db: str | None, timeout: float) -> None:
    """STRATEGY's orders go out again from the next bar."""
    _send(db, "resume", strategy, timeout=timeout)


@cli.command()
@click.argument("strategy", required=False)
@_symbol
@_db
@_timeout
def flatten(strategy: str | None, symbol: str | None, db: str | None, timeout: float) -> None:
    """Close the positions of STRATEGY (default: every strategy) at the next bar."""
    _send(db, "flatten", strategy, symbol, timeout=timeout)


@cli.command("cancel-orders")
@click.argument("strategy", required=False)
@_db
@_timeout
def cancel_orders(strategy: str | None, db: str | None, timeout: float) -> None:
    """Cancel the resting entry orders (limit, stop) of STRATEGY (default: every strategy)."""
    _send(db, "cancel-orders", strategy, timeout=timeout)


@cli.command()
@click.argument("strategy")
@click.argument("fraction", type=float)
@_db
@_timeout
def allocate(strategy: str, fraction: float, db: str | None, timeout: float) -> None:
    """Give STRATEGY this FRACTION of the account from the next bar (capital moves as at a
    restart with the new allocation; positions are kept)."""
    _send(db, "allocate", strategy, args={"fraction": fraction}, timeout=timeout)


@cli.group()
def risk() -> None:
    """The kill switches: their state, and re-arming one."""


@risk.command("status")
@_db
def risk_status(db: str | None) -> None:
    """Which kill switches are tripped (from the ledger)."""
    ledger, path = _ledger(db)
    try:
        state = ledger.get_meta("risk_state")
        kills = json.loads(state)["kills"] if state else {}
        if not state:
            click.echo(f"No risk limits recorded in '{path}': no kill switch.")
        elif not kills:
            click.echo("No kill switch is tripped.")
        for scope, kill in sorted(kills.items()):
            name = "the account" if scope == "__account__" else scope
            click.echo(f"KILL SWITCH {name}: {kill['rule']} since {kill['since']}")
        for row in ledger.controls():
            if row["kind"] == "risk-reset":
                click.echo(
                    f"#{row['id']} reset {row['strategy_id'] or 'the account'} by "
                    f"{row['requested_by']} at {row['requested_at']}: {row['status']}: "
                    f"{row['args'].get('reason', '')}"
                )
    finally:
        ledger.close()


@risk.command("reset")
@click.argument("strategy", required=False)
@click.option("--reason", required=True, help="Why it is safe to trade again (recorded).")
@_db
@_timeout
def risk_reset(strategy: str | None, reason: str, db: str | None, timeout: float) -> None:
    """Re-arm the kill switch of STRATEGY (default: the account's), with the reason and the
    OS user recorded in the ledger."""
    if not reason.strip():
        raise UsageError("--reason is empty: say why it is safe to trade again.")
    _send(db, "risk-reset", strategy, args={"reason": reason}, timeout=timeout)
