"""Whose error is it: an exception raised inside a strategy (its ``init()``, ``next()``, its
``prepare_data``) or inside backtesting.py on its behalf is the strategy's, reported with the
file and line it came from, never as a bug in StrateQueue."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StrategyError, StrateQueueError

__all__ = ["strategy_code"]

log = logging.getLogger(__name__)

_OURS = str(Path(__file__).resolve().parents[1])  # the stratequeue package


def _where(exc: BaseException) -> str:
    """The innermost frame outside StrateQueue, and the strategy's own frame above it when
    that one is in a library (backtesting.py)."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_OURS)
    ]
    if not frames:
        return "StrateQueue's code"
    inner = frames[-1]
    text = f"{Path(inner.filename).name} line {inner.lineno}"
    if _library(inner.filename):
        own = [f for f in frames if not _library(f.filename)]
        if own:
            text += f", called from {Path(own[-1].filename).name} line {own[-1].lineno}"
    return text


def _library(filename: str) -> bool:
    """A file of backtesting.py itself (its test suite's strategies are a strategy's code)."""
    return Path(filename).parent.name == "backtesting"


@contextmanager
def strategy_code(name: str, what: str, when: Any = None) -> Iterator[None]:
    """Run the strategy's code; what it raises becomes a :class:`StrategyError`."""
    try:
        yield
    except StrateQueueError:
        raise
    except Exception as exc:
        at = f" at bar {when}" if when is not None else ""
        message = str(exc).strip() or "(no message)"
        log.debug("Strategy %s raised in %s", name, what, exc_info=True)
        raise StrategyError(
            f"Strategy {name} raised {type(exc).__name__} in {what}{at} ({_where(exc)}): "
            f"{message}. This is the strategy's error, not StrateQueue's; its traceback is "
            "in the log file."
        ) from exc
