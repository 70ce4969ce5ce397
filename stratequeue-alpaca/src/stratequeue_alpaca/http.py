"""Timeouts and retries around alpaca-py's REST clients.

alpaca-py 0.44.0 sends requests with no timeout (a silent server hangs it for ever) and retries
429/504 itself, POST /v2/orders included, which can place an order twice. :func:`harden`
gives every request a timeout and switches the SDK's retry off; :class:`Retrier` (the core
toolkit's :class:`Retry` taught Alpaca's errors) does the retrying instead, with backoff,
``Retry-After`` and a log line per attempt, and only where it is safe.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from stratequeue.data.live import Retry, parse_retry_after

__all__ = ["Retrier", "api_message", "harden", "is_transient", "status_of"]


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


def asked_wait(exc: BaseException) -> float | None:
    """The ``Retry-After`` of an Alpaca error answer, in seconds, if it sent one."""
    if isinstance(exc, APIError) and exc.response is not None:
        return parse_retry_after(exc.response.headers.get("Retry-After"))
    return None


def _describe(exc: BaseException) -> str:
    return f"{status_of(exc) or type(exc).__name__}: {api_message(exc)}"


@dataclass(frozen=True)
class Retrier(Retry):
    """Up to ``attempts`` tries of an Alpaca call, sleeping ``backoff * 2**n`` (capped), or
    what ``Retry-After`` asks, between them."""

    transient: Callable[[BaseException], bool] = is_transient
    asked_wait: Callable[[BaseException], float | None] = asked_wait
    describe: Callable[[BaseException], str] = _describe
    logger: logging.Logger = field(default=logging.getLogger(__name__), compare=False)
