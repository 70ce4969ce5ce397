"""Where TWS / IB Gateway is and which account to trade: ``IB_HOST``, ``IB_PORT``,
``IB_CLIENT_ID``, ``IB_ACCOUNT``; and the account checks that stop a run on the wrong account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stratequeue.brokers.base import CredentialStatus
from stratequeue.errors import BrokerError

__all__ = [
    "IBSettings",
    "account_problem",
    "credential_status",
    "data_settings_from",
    "mode_problem",
    "settings_from",
    "setup_instructions",
]

PAPER_PREFIX = "DU"  # IB paper accounts are DU1234567


@dataclass(frozen=True)
class IBSettings:
    host: str
    port: int
    client_id: int
    account: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise BrokerError(
            f"{name}={text!r} is not a whole number; set it to e.g. {default}."
        ) from None


def settings_from(env: Mapping[str, str]) -> IBSettings:
    return IBSettings(
        host=env.get("IB_HOST", "").strip() or "127.0.0.1",
        port=_int(env, "IB_PORT", 7497),
        client_id=_int(env, "IB_CLIENT_ID", 1),
        account=env.get("IB_ACCOUNT", "").strip(),
    )


def data_settings_from(env: Mapping[str, str]) -> tuple[IBSettings, bool]:
    """Where the ``ib`` data source connects, and whether it asks for regular trading hours
    only. Its client id is ``IB_DATA_CLIENT_ID``, else ``IB_CLIENT_ID + 1`` (TWS allows one
    connection per client id, and the broker holds ``IB_CLIENT_ID``); ``IB_USE_RTH=0`` asks
    for extended hours too (default 1: 09:30-16:00 New York for US stocks)."""
    broker = settings_from(env)
    client_id = _int(env, "IB_DATA_CLIENT_ID", broker.client_id + 1)
    rth = env.get("IB_USE_RTH", "").strip().lower()
    if rth not in ("", "0", "1", "true", "false"):
        raise BrokerError(f"IB_USE_RTH={rth!r} must be 1 (regular hours only) or 0 (all hours).")
    return IBSettings(broker.host, broker.port, client_id, ""), rth not in ("0", "false")


def is_paper_account(account: str) -> bool:
    return account.upper().startswith(PAPER_PREFIX)


def mode_problem(account: str, paper: bool) -> str | None:
    """Why ``account`` must not trade in this mode (one line), or None."""
    if not account:
        return (
            "IB_ACCOUNT is not set: set it to the account to trade (e.g. DU1234567 for a paper "
            "account); see: stratequeue --broker-setup ib"
        )
    if paper and not is_paper_account(account):
        return (
            f"--paper refuses IB account {account}: it is a live account (IB paper accounts "
            f"start with {PAPER_PREFIX}); set IB_ACCOUNT to your paper account or run with --live"
        )
    if not paper and is_paper_account(account):
        return (
            f"--live refuses IB account {account}: it is a paper account (it starts with "
            f"{PAPER_PREFIX}); set IB_ACCOUNT to your live account or run with --paper"
        )
    return None


def account_problem(settings: IBSettings, managed: list[str]) -> str | None:
    """Why the connection's managed accounts do not allow trading ``settings.account``."""
    if settings.account in managed:
        return None
    found = ", ".join(managed) or "none"
    return (
        f"IB_ACCOUNT={settings.account} is not among the accounts TWS at {settings.address} "
        f"manages for this login (found: {found}); set IB_ACCOUNT to one of them or log TWS in "
        "to that account"
    )


def credential_status(env: Mapping[str, str]) -> CredentialStatus:
    account = env.get("IB_ACCOUNT", "").strip()
    if not account:
        return CredentialStatus(paper=False, live=False, detail="IB_ACCOUNT not set")
    paper = is_paper_account(account)
    port = env.get("IB_PORT", "").strip() or "7497"
    return CredentialStatus(paper=paper, live=not paper, detail=f"{account} via port {port}")


def setup_instructions() -> str:
    return """Interactive Brokers trades through Trader Workstation (TWS) or IB Gateway running on
this machine, logged in to your account.

1. In TWS: File > Global Configuration > API > Settings (IB Gateway: Configure > Settings >
   API > Settings):
   - tick "Enable ActiveX and Socket Clients";
   - Socket port: 7497 for a TWS paper login, 7496 for a live one
     (IB Gateway: 4002 paper, 4001 live);
   - Trusted IPs: add 127.0.0.1;
   - untick "Read-Only API" (else every order is refused).
2. Set the environment:
     export IB_ACCOUNT=DU1234567   # the account to trade (paper accounts start with DU)
     export IB_PORT=7497           # default 7497; IB_HOST defaults to 127.0.0.1
     export IB_CLIENT_ID=1         # default 1; keep it the same across restarts
3. Run with --broker ib --paper (a DU account) or --live (any other account).
"""
