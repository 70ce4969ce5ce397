"""Timeouts and retries around alpaca-py's REST clients.

alpaca-py 0.44.0 sends requests with no timeout (a silent server hangs it for ever) and retries
429/504 itself, POST /v2/orders included, which can place an order twice. :func:`harden`
gives every request a timeout and switches the SDK's retry off; :class:`Retrier` does the
retrying instead, with backoff and a log line per attempt, and only where it is safe.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError

__all__ = ["Retrier", "api_message", "harden", "is_transient", "status_of"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def harden(client: Any, timeout: float) -> Any:
    """Give every HTTP request of ``client`` a timeout and turn off the SDK's own retries."""
    request = client._session.request

    @functools.wraps(request)
    def request_with_timeout(method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", timeout)
        return request(method, url, **kwargs)

    client._session.request = request_with_timeout
    client._retry = 0  # one attempt: retries are ours (Retrier), never a blind POST replay
    return client


def status_of(exc: BaseException) -> int | None:
    if isinstance(exc, APIError):
        try:
            return exc.status_code
        except Exception:  # a response object without a status
            return None
    return None


def api_message(exc: BaseException) -> str:
    """Alpaca's own message for an error (``insufficient buying power``), else its text."""
    if isinstance(exc, APIError):
        try:
            return str(exc.message)
        except (ValueError, KeyError, TypeError):
            text = str(exc).strip()
            return text[:200] or f"HTTP {status_of(exc)}"
    if isinstance(exc, requests.Timeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return f"{type(exc).__name__}: {exc}"


def is_transient(exc: BaseException) -> bool:
    """Worth another try: rate limit, server errors, timeouts, dropped connections."""
    if isinstance(exc, APIError):
        status = status_of(exc)
        return status is None or status == 429 or status >= 500
    return isinstance(exc, (requests.Timeout, requests.ConnectionError))


@dataclass(frozen=True)
class Retrier:
    """Up to ``attempts`` tries of a call, sleeping ``backoff * 2**n`` (capped) between them."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, self.max_backoff)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; retry transient failures; raise the last error when attempts run out."""
        for attempt in range(self.attempts):
            try:
                return fn()
            except Exception as exc:
                if not is_transient(exc) or attempt == self.attempts - 1:
                    raise
                wait = self.delay(attempt)
                log.warning(
                    "Alpaca %s failed (%s: %s); retry %d/%d in %.2fs",
                    what,
                    status_of(exc) or type(exc).__name__,
                    api_message(exc),
                    attempt + 1,
                    self.attempts - 1,
                    wait,
                )
                time.sleep(wait)
        raise AssertionError("unreachable")
