"""Which Schwab app, login and account to use, from an environment mapping.

``SCHWAB_APP_KEY``, ``SCHWAB_APP_SECRET``, ``SCHWAB_CALLBACK_URL`` (default
``https://127.0.0.1:8182``), ``SCHWAB_TOKEN_PATH`` (default ``schwab-token.json`` in the
StrateQueue home folder), ``SCHWAB_ACCOUNT`` (an account number, mapped to Schwab's account hash)
and ``SCHWAB_BASE_URL`` (default ``https://api.schwabapi.com``: every REST call and the token
endpoint go there). The seed's ``TDA_CLIENT_ID`` and ``TDA_ACCOUNT_ID`` stand in for the app key
and the account when the new names are absent, said once each; ``TDA_REFRESH_TOKEN`` cannot work
with Schwab and is answered with what to do instead. Secrets never appear in a repr or a log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from stratequeue.errors import BrokerError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_CALLBACK_URL", "SchwabSettings", "home", "read_settings"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.schwabapi.com"
DEFAULT_CALLBACK_URL = "https://127.0.0.1:8182"
_SAID: set[str] = set()


def home(env: Mapping[str, str]) -> Path:
    """The StrateQueue home folder (``STRATEQUEUE_HOME``, else ``~/.stratequeue``)."""
    value = (env.get("STRATEQUEUE_HOME") or os.environ.get("STRATEQUEUE_HOME") or "").strip()
    return Path(value) if value else Path.home() / ".stratequeue"


@dataclass(frozen=True)
class SchwabSettings:
    """One Schwab login. ``app_secret`` never shows in a repr."""

    app_key: str = field(repr=False)
    app_secret: str = field(repr=False)
    callback_url: str
    token_path: Path
    account: str
    base_url: str

    @property
    def complete(self) -> bool:
        return bool(self.app_key and self.app_secret and self.token_path.is_file())


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _once(key: str, message: str, *args: object) -> None:
    """A line about the environment, said once per process."""
    if key not in _SAID:
        _SAID.add(key)
        log.warning(message, *args)


def read_settings(env: Mapping[str, str], *, quiet: bool = False) -> SchwabSettings:
    """The settings ``env`` holds (possibly incomplete: :attr:`SchwabSettings.complete`).
    ``quiet`` leaves the TDA lines unsaid (``--broker-status`` looks at every broker)."""
    app_key = _get(env, "SCHWAB_APP_KEY")
    if not app_key and _get(env, "TDA_CLIENT_ID"):
        app_key = _get(env, "TDA_CLIENT_ID")
        if not quiet:
            _once(
                "key",
                "TD Ameritrade is now Charles Schwab: TDA_CLIENT_ID is used as SCHWAB_APP_KEY "
                "(a TDA app key works only if it is the key of your Schwab app).",
            )
    account = _get(env, "SCHWAB_ACCOUNT")
    if not account and _get(env, "TDA_ACCOUNT_ID"):
        account = _get(env, "TDA_ACCOUNT_ID")
        if not quiet:
            _once(
                "account", "TDA_ACCOUNT_ID is used as SCHWAB_ACCOUNT (the Schwab account number)."
            )
    if _get(env, "TDA_REFRESH_TOKEN") and not quiet:
        _once(
            "refresh",
            "TDA_REFRESH_TOKEN is ignored: TD Ameritrade tokens do not work with Schwab. "
            "Run: stratequeue --broker-setup schwab (writes SCHWAB_TOKEN_PATH).",
        )
    token = _get(env, "SCHWAB_TOKEN_PATH")
    base = _get(env, "SCHWAB_BASE_URL") or DEFAULT_BASE_URL
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BrokerError(
            f"SCHWAB_BASE_URL={base!r} is not an http(s) URL; unset it to use {DEFAULT_BASE_URL}."
        )
    return SchwabSettings(
        app_key=app_key,
        app_secret=_get(env, "SCHWAB_APP_SECRET"),
        callback_url=_get(env, "SCHWAB_CALLBACK_URL") or DEFAULT_CALLBACK_URL,
        token_path=Path(token).expanduser() if token else home(env) / "schwab-token.json",
        account=account,
        base_url=base.rstrip("/"),
    )
