from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from stratequeue.data.live import Backoff, Retry, TransientError, parse_retry_after

NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


def flaky(errors: list[Exception], result: str = "ok"):
    calls = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


def recorder():
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    return waits, wait


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: NOW) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:26:00 GMT", now=lambda: NOW) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_backoff_doubles_up_to_its_cap():
    assert [Backoff(0.5, 3.0).delay(n) for n in range(4)] == [0.5, 1.0, 2.0, 3.0]


def test_a_transient_failure_is_retried_after_the_wait_the_server_asked(caplog):
    waits, wait = recorder()
    fn, calls = flaky(
        [
            TransientError("HTTP 429", retry_after=parse_retry_after("7")),
            TransientError(
                "HTTP 503",
                retry_after=parse_retry_after("Wed, 21 Oct 2015 07:27:30 GMT", now=lambda: NOW),
            ),
            TransientError("timeout"),
        ]
    )
    with caplog.at_level(logging.WARNING):
        assert Retry(attempts=4, backoff=0.5, wait=wait).call("vendor bars", fn) == "ok"
    assert waits == [7.0, 30.0, 2.0]  # the third asked nothing: backoff 0.5 * 2**2
    assert len(calls) == 4
    assert caplog.text.count("retrying") == 3 and "vendor bars failed (HTTP 429)" in caplog.text


def test_a_server_asking_for_too_long_is_waited_at_most_max_wait():
    waits, wait = recorder()
    fn, _ = flaky([TransientError("HTTP 429", retry_after=3600.0)])
    Retry(max_wait=30.0, wait=wait).call("x", fn)
    assert waits == [30.0]


def test_other_errors_are_not_retried_and_the_last_transient_one_is_raised():
    fn, calls = flaky([ValueError("bad request")])
    with pytest.raises(ValueError):
        Retry(wait=recorder()[1]).call("x", fn)
    assert len(calls) == 1
    fn, calls = flaky([TransientError(f"try {n}") for n in range(5)])
    with pytest.raises(TransientError, match="try 2"):
        Retry(attempts=3, wait=recorder()[1]).call("x", fn)
    assert len(calls) == 3


def test_a_stop_while_waiting_raises_at_once():
    fn, calls = flaky([TransientError("HTTP 429", retry_after=60.0)] * 3)
    with pytest.raises(TransientError):
        Retry(wait=lambda seconds: True).call("x", fn)
    assert len(calls) == 1
