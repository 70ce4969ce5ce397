"""Where Coinbase Advanced Trade is and which key signs the requests: ``COINBASE_API_KEY`` (the
CDP key name), ``COINBASE_API_SECRET`` (its private key, PEM; ``\\n`` escapes accepted),
``COINBASE_BASE_URL`` (host[:port]), ``COINBASE_WS_URL`` and ``COINBASE_WS_USER_URL``.

The secret is kept in :class:`CoinbaseSettings` out of its repr: it never reaches a log line,
an error message or the ledger.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stratequeue.brokers.base import CredentialStatus
from stratequeue.errors import BrokerError

__all__ = [
    "CoinbaseSettings",
    "credential_status",
    "pem_from_env",
    "settings_from",
    "setup_instructions",
]

BASE_URL = "api.coinbase.com"
WS_URL = "wss://advanced-trade-ws.coinbase.com"
WS_USER_URL = "wss://advanced-trade-ws-user.coinbase.com"


@dataclass(frozen=True)
class CoinbaseSettings:
    api_key: str
    api_secret: str = field(repr=False)
    base_url: str = BASE_URL
    ws_url: str = WS_URL
    ws_user_url: str = WS_USER_URL

    @property
    def rest_root(self) -> str:
        """``https://host[:port]``: the SDK's rule, so one COINBASE_BASE_URL serves both."""
        host = self.base_url.removeprefix("https://").rstrip("/")
        return f"https://{host}"

    @property
    def host(self) -> str:
        """host[:port], as the request tokens' ``uri`` claim names it."""
        return self.rest_root.removeprefix("https://")


def pem_from_env(text: str) -> str:
    """The PEM as a ``.env`` file holds it: one line with ``\\n`` escapes, maybe quoted."""
    pem = text.strip().strip('"').strip("'").replace("\\n", "\n").strip()
    return pem + "\n" if pem else ""


def home(env: Mapping[str, str]) -> Path:
    """The StrateQueue home folder (``STRATEQUEUE_HOME``, else ``~/.stratequeue``)."""
    value = (env.get("STRATEQUEUE_HOME") or os.environ.get("STRATEQUEUE_HOME") or "").strip()
    return Path(value) if value else Path.home() / ".stratequeue"


def settings_from(env: Mapping[str, str], *, need_key: bool = True) -> CoinbaseSettings:
    key = env.get("COINBASE_API_KEY", "").strip()
    secret = pem_from_env(env.get("COINBASE_API_SECRET", ""))
    if need_key and not (key and secret):
        missing = [
            name
            for name, value in (("COINBASE_API_KEY", key), ("COINBASE_API_SECRET", secret))
            if not value
        ]
        raise BrokerError(
            f"{' and '.join(missing)} not set: the Coinbase broker signs every request with a "
            "CDP API key. See: stratequeue --broker-setup coinbase"
        )
    if secret and "PRIVATE KEY" not in secret:
        raise BrokerError(
            "COINBASE_API_SECRET is not a PEM private key (no 'PRIVATE KEY' line): paste the "
            "privateKey of the CDP key file, newlines written as \\n. "
            "See: stratequeue --broker-setup coinbase"
        )
    return CoinbaseSettings(
        api_key=key,
        api_secret=secret,
        base_url=env.get("COINBASE_BASE_URL", "").strip() or BASE_URL,
        ws_url=env.get("COINBASE_WS_URL", "").strip() or WS_URL,
        ws_user_url=env.get("COINBASE_WS_USER_URL", "").strip() or WS_USER_URL,
    )


def credential_status(env: Mapping[str, str]) -> CredentialStatus:
    """Live only: Coinbase has no paper trading (``--paper`` uses the local paper broker)."""
    key = env.get("COINBASE_API_KEY", "").strip()
    secret = env.get("COINBASE_API_SECRET", "").strip()
    if not (key and secret):
        return CredentialStatus(paper=False, live=False, detail="COINBASE_API_KEY not set")
    where = env.get("COINBASE_BASE_URL", "").strip() or BASE_URL
    return CredentialStatus(paper=False, live=True, detail=f"key set, {where}")


def setup_instructions() -> str:
    return """Coinbase Advanced Trade signs every request with a CDP API key.

1. Go to https://portal.cdp.coinbase.com/access/api and create a Secret API Key:
   - API restrictions: tick "View" and "Trade" (never "Transfer");
   - signature algorithm: ECDSA (ES256) or Ed25519, both work;
   - restrict it to this machine's IP address if you can.
2. Download the key file. It holds "name" (organizations/.../apiKeys/...) and "privateKey".
3. Put them in .env (the PEM on one line, its newlines written as \\n):
     COINBASE_API_KEY=organizations/{org_id}/apiKeys/{key_id}
     COINBASE_API_SECRET="-----BEGIN EC PRIVATE KEY-----\\nMHc...\\n-----END EC PRIVATE KEY-----\\n"
4. Check it: stratequeue --broker-status (then a run with --broker coinbase --live reads the
   accounts and the key's permissions before anything is sent: it stops when the key cannot
   trade).

Coinbase has no paper trading: --paper runs the local paper broker on Coinbase's public market
data (--data-source coinbase needs no key).
"""
