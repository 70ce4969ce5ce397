"""Options for runs over many runners, shared by a live run and ``replay``: ``--executor``,
``--workers``, ``--ray-address``, ``--max-history``; and ``--symbols @FILE``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError

__all__ = ["executor_config", "executor_options", "read_symbols"]


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --executor, --workers, --ray-address and --max-history."""
    from ..executors import EXECUTORS

    for option in reversed(
        [
            click.option(
                "--executor",
                type=click.Choice(EXECUTORS),
                default="auto",
                show_default=True,
                help="Where runners run: this process, worker processes, or Ray actors "
                "[auto: process above a few hundred runners].",
            ),
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                help="Worker processes or Ray actors [default: one per core].",
            ),
            click.option(
                "--ray-address",
                help="Ray cluster to join with --executor ray [default: RAY_ADDRESS, else a "
                "local Ray instance].",
            ),
            click.option(
                "--max-history",
                type=click.IntRange(min=1),
                help="Bars each runner keeps for its indicators (default: all, or the "
                "strategy's MAX_HISTORY). Books and state carry on.",
            ),
        ]
    ):
        command = option(command)
    return command


def executor_config(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The RunConfig fields of these options."""
    return {
        "executor": opts["executor"],
        "workers": opts["workers"],
        "ray_address": opts["ray_address"] or os.environ.get("RAY_ADDRESS") or None,
        "max_history": opts["max_history"],
    }


def read_symbols(text: str | None) -> list[str]:
    """``--symbols A,B`` or ``--symbols @FILE`` (one symbol per line or comma-separated;
    ``#`` comments and blank lines allowed), upper-cased, repeats dropped."""
    text = (text or "").strip()
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"--symbols {text}: cannot read {path} ({exc}). Give a text file of symbols."
            ) from None
        lines = [line.split("#", 1)[0] for line in content.splitlines()]
        text = ",".join(lines)
        if not text.replace(",", "").strip():
            raise UsageError(f"--symbols {text or '@' + str(path)}: {path} lists no symbol.")
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise UsageError("No symbols given. Pass --symbols, e.g. --symbols AAPL,MSFT or @sp500.txt")
    return list(dict.fromkeys(symbols))
