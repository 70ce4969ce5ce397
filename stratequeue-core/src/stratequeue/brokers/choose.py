"""Which broker a run uses, and opening it: the paper broker, a plugin with paper credentials,
or (``--live``) the one with live credentials, never paper."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import plugins
from ..errors import BrokerError, UsageError
from .base import BaseBroker, BrokerConfig

__all__ = ["choose_broker", "default_data_source", "open_broker", "paper_account_path"]


def paper_account_path(db: Path | str) -> Path:
    """The local paper broker's account file, kept next to the ledger."""
    path = Path(db)
    return path.with_name(path.stem + ".paper-account.sqlite")


def choose_broker(
    mode: str, requested: str | None, env: Mapping[str, str]
) -> tuple[str, str | None]:
    """Pick the broker for ``mode``; returns (name, a note to show the user or None).

    Paper: the requested broker, else the one plugin broker with paper credentials, else the
    built-in paper broker (said in one line). Live: the requested broker or the one with live
    credentials; never the paper broker, never paper credentials. Several brokers with
    credentials and none requested: a usage error listing them.
    """
    registry = plugins.registry("brokers")
    if requested:
        cls = registry.get(requested)
        if mode == "paper" and not cls.paper_account:
            venue = cls.display_name or requested
            return "paper", (
                f"{venue} has no paper trading: paper trading on the local paper broker "
                f"instead; add --live to trade the {venue} account."
            )
        status = cls.credential_status(env)
        if mode == "live" and not status.live:
            raise BrokerError(
                f"--live needs live credentials for '{requested}'; none were found. "
                f"See: stratequeue --broker-setup {requested}"
            )
        if mode == "live" and requested == "paper":
            raise UsageError(
                "The paper broker cannot trade live. Drop --live, or pick a real broker."
            )
        return requested, None
    # an alias (a broker's old name, ``alias_of``) is never picked for its credentials: the
    # broker it names is
    others = [n for n in registry.names() if n != "paper" and not registry.get(n).alias_of]
    if mode == "live":
        live = [n for n in others if registry.get(n).credential_status(env).live]
        if not live:
            raise BrokerError(
                "--live needs live broker credentials and none were found "
                "(e.g. ALPACA_API_KEY, ALPACA_SECRET_KEY, ALPACA_BASE_URL). "
                "See: stratequeue --broker-status"
            )
        return _only(live, "live"), None
    paper = [n for n in others if registry.get(n).credential_status(env).paper]
    if paper:
        return _only(paper, "paper"), None
    return "paper", "No paper credentials of any broker plugin found: using the local paper broker."


def default_data_source(mode: str, requested_broker: str | None) -> str:
    """Where bars come from when ``--data-source`` is not given.

    A paper run with a broker that has no paper trading trades on the local paper broker with
    that venue's own bars (when its plugin has a data source). A live run takes the broker's
    own bars, and without them is refused: real money never trades on the demo feed's invented
    prices unless the user names that feed. Every other run uses the demo feed.
    """
    sources = plugins.registry("data_sources")
    own = None
    if requested_broker:
        cls = plugins.registry("brokers").get(requested_broker)
        if cls.data_source and cls.data_source in sources.names():
            own = cls.data_source
            if mode == "live" or not cls.paper_account:
                return own
    if mode == "live":
        real = [
            n
            for n in sources.names()
            if not (sources.get(n).simulated or sources.get(n).historical)
        ]
        choice = (
            f" (installed: {', '.join(real)})"
            if real
            else ('; install one, e.g. pip install "stratequeue[polygon]"')
        )
        raise UsageError(
            "--live needs real prices: pass --data-source NAME"
            f"{choice}, or --broker NAME for that broker's own bars. The demo feed's prices "
            "are simulated."
        )
    return "demo"


def _only(names: list[str], kind: str) -> str:
    """The one broker with ``kind`` credentials; several is the user's choice, never ours."""
    if len(names) > 1:
        raise UsageError(
            f"Several brokers have {kind} credentials ({', '.join(names)}): "
            f"pass --broker NAME to pick one."
        )
    return names[0]


def open_broker(
    name: str,
    *,
    mode: str,
    env: Mapping[str, str],
    cash: float,
    options: Mapping[str, Any],
    db: Path | str,
) -> BaseBroker:
    """Create broker ``name`` and connect it (reading only: nothing is sent). The paper broker
    keeps its account next to a ledger file; with an in-memory ledger, in memory too."""
    params: dict[str, Any] = {"cash": cash, **options}
    if name == "paper" and str(db) != ":memory:":
        params["path"] = paper_account_path(db)
    cls: type[BaseBroker] = plugins.registry("brokers").get(name)
    broker = cls(
        BrokerConfig(
            name, paper_trading=mode != "live", credentials=dict(env), additional_params=params
        )
    )
    if not broker.connect():
        raise BrokerError(f"Could not connect to broker '{name}'.")
    return broker
