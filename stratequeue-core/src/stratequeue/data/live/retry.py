"""Retrying vendor calls: one :class:`TransientError`, exponential backoff, ``Retry-After``.

A vendor client turns a failure that may pass (a timeout, a dropped connection, HTTP 429 or
5xx) into :class:`TransientError`, with the wait the server asked for, if any; :class:`Retry`
tries again after that wait or, when none was asked for, after ``backoff * 2**n`` seconds
(capped), and raises the last error when the attempts run out or the run is stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from .values import utcnow

__all__ = ["Backoff", "Retry", "TransientError", "parse_retry_after"]

log = logging.getLogger("stratequeue.data")
T = TypeVar("T")


class TransientError(Exception):
    """A failure that may pass if tried again later: network, timeout, rate limit, server
    error. ``retry_after`` is how many seconds the vendor asked us to wait, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: Callable[[], datetime] = utcnow) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds (``"120"``) or an HTTP
    date (``"Wed, 21 Oct 2015 07:28:00 GMT"``); never below 0; None when absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        return None
    return max(0.0, (when - now()).total_seconds())


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``first`` seconds, doubling each time, at most ``cap``."""

    first: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (0 for the first failure)."""
        return min(self.first * 2**attempt, self.cap)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)


def _asked_wait(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, TransientError) else None


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


@dataclass(frozen=True)
class Retry:
    """Up to ``attempts`` tries of a call.

    Between tries it waits what the server asked (``asked_wait``, e.g. ``Retry-After``), else
    ``backoff * 2**n`` capped at ``max_backoff``; never more than ``max_wait``. ``transient``
    says which errors are worth another try; ``wait(seconds)`` sleeps and returns True when
    the run was stopped meanwhile (then the last error is raised at once). Each retry is
    logged at WARNING on ``logger`` with ``describe(error)``.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_wait: float = 300.0
    transient: Callable[[BaseException], bool] = _is_transient
    asked_wait: Callable[[BaseException], float | None] = _asked_wait
    describe: Callable[[BaseException], str] = str
    wait: Callable[[float], bool] = _sleep
    logger: logging.Logger = field(default=log, compare=False)

    def delay(self, attempt: int, asked: float | None = None) -> float:
        """The wait after failed attempt ``attempt``: ``asked`` if the server said, else backoff."""
        chosen = Backoff(self.backoff, self.max_backoff).delay(attempt) if asked is None else asked
        return min(chosen, self.max_wait)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; retry transient failures; raise the last error when attempts run out."""
        for attempt in range(self.attempts):
            try:
                return fn()
            except Exception as exc:
                if not self.transient(exc) or attempt == self.attempts - 1:
                    raise
                seconds = self.delay(attempt, self.asked_wait(exc))
                self.logger.warning(
                    "%s failed (%s); retrying in %.2f s (retry %d of %d)",
                    what,
                    self.describe(exc),
                    seconds,
                    attempt + 1,
                    self.attempts - 1,
                )
                if self.wait(seconds):
                    raise
        raise ValueError(f"Retry.attempts must be at least 1 (got {self.attempts})")
