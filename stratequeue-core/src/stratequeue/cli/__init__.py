"""The ``stratequeue`` command (also ``sq``, ``live-trading`` and ``trading-system``).

Errors a user can fix are printed as one line, with exit code 2 for usage errors; heavy
libraries (pandas, backtesting.py, vendor SDKs) are imported only when a run needs them.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import StrateQueueError

__all__ = ["main"]


def _load_dotenv() -> None:
    """``.env`` in the working directory; real environment variables win."""
    if os.path.isfile(".env"):
        from dotenv import load_dotenv

        load_dotenv(".env", override=False)


def main(argv: list[str] | None = None) -> None:
    from .main import cli

    _load_dotenv()
    try:
        cli.main(args=argv, prog_name="stratequeue", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(0)
    except click.UsageError as exc:
        hint = (
            f" Run '{exc.ctx.command_path if exc.ctx else 'stratequeue'} --help' for the options."
        )
        click.echo(f"Error: {exc.format_message().rstrip('.')}.{hint}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except StrateQueueError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the user, the traceback in the log
        import logging

        logging.getLogger("stratequeue").debug("Unexpected error", exc_info=True)  # log file only
        verbose = any(a in ("-v", "--verbose") for a in (argv or sys.argv[1:]))
        if verbose:
            raise
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {exc}. This is a bug in StrateQueue or a "
            "plugin: run again with --verbose for the traceback and report it.",
            err=True,
        )
        sys.exit(1)
