"""The schwab-py token file: ``{"creation_timestamp": int, "token": {...}}``, mode 0600.

A refresh token lives about 7 days from the browser login (``creation_timestamp``); after that
only a new login helps. :func:`check_age` stops a run before any order when it is too old and
warns from day 6.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from stratequeue.errors import BrokerError

__all__ = ["MAX_AGE", "WARN_AGE", "check_age", "read_token", "relogin", "write_token"]

log = logging.getLogger(__name__)

DAY = 86_400
MAX_AGE = 7 * DAY
WARN_AGE = 6 * DAY


def relogin(reason: str) -> BrokerError:
    """The one line that stops a run whose Schwab login cannot be used."""
    return BrokerError(
        f"Schwab login {reason}: run `stratequeue --broker-setup schwab` to log in again "
        "(Schwab asks for a browser login every 7 days)."
    )


def read_token(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise relogin(f"token file {path} not found") from None
    except (OSError, ValueError):
        raise relogin(f"token file {path} is unreadable") from None
    if not isinstance(data, dict) or "creation_timestamp" not in data or "token" not in data:
        raise relogin(f"token file {path} is not a schwab-py token file")
    return data


def write_token(path: Path, data: dict[str, Any]) -> None:
    """Write the token file readable by its owner only (0600), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def check_age(data: dict[str, Any], now: float | None = None) -> float:
    """The login's age in seconds; too old stops the run, day 6 warns."""
    age = (time.time() if now is None else now) - float(data["creation_timestamp"])
    if age >= MAX_AGE:
        raise relogin(f"is {age / DAY:.1f} days old (refresh tokens last 7 days)")
    if age >= WARN_AGE:
        log.warning(
            "Schwab login is %.1f days old: it expires at 7 days; run "
            "`stratequeue --broker-setup schwab` before then.",
            age / DAY,
        )
    return age
