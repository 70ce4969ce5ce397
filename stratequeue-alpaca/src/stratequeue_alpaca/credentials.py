"""Which Alpaca keys and endpoints to use, from an environment mapping.

Paper (the default) prefers ``PAPER_KEY``/``PAPER_SECRET``/``PAPER_ENDPOINT`` and falls back to
``ALPACA_API_KEY``/``ALPACA_SECRET_KEY`` with the paper endpoint. Live requires
``ALPACA_API_KEY``, ``ALPACA_SECRET_KEY`` and ``ALPACA_BASE_URL``, with no fallback, ever.
Secrets never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from stratequeue.brokers.base import CredentialStatus
from stratequeue.errors import BrokerError

__all__ = [
    "LIVE_URL",
    "PAPER_URL",
    "AlpacaCredentials",
    "credential_status",
    "data_credentials",
    "resolve",
    "setup_instructions",
    "stream_url_for",
]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
_LIVE_HOST = "api.alpaca.markets"
_PAPER_HOST = "paper-api.alpaca.markets"


@dataclass(frozen=True)
class AlpacaCredentials:
    """Keys and endpoints for one mode. ``source`` names the variables used (never values)."""

    key: str = field(repr=False)
    secret: str = field(repr=False)
    base_url: str
    paper: bool
    source: str

    @property
    def stream_url(self) -> str:
        """The trade_updates websocket, derived from the REST base."""
        return stream_url_for(self.base_url)


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _base(url: str, variable: str) -> str:
    """A REST base without trailing slash or ``/v2`` (the SDK appends the version itself)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BrokerError(
            f"{variable}={url!r} is not an http(s) URL. "
            f"Set it to e.g. {PAPER_URL if variable == 'PAPER_ENDPOINT' else LIVE_URL}."
        )
    url = url.rstrip("/")
    if url.endswith("/v2"):
        url = url[: -len("/v2")]
    return url


def stream_url_for(base_url: str) -> str:
    """``https://host`` -> ``wss://host/stream``; ``http://127.0.0.1:P`` -> ``ws://127.0.0.1:P/stream``."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/stream"


def resolve(env: Mapping[str, str], *, paper: bool) -> AlpacaCredentials:
    """The credentials for ``paper`` or live mode, or a BrokerError naming what to set."""
    if paper:
        return _resolve_paper(env)
    return _resolve_live(env)


def _resolve_paper(env: Mapping[str, str]) -> AlpacaCredentials:
    endpoint = _get(env, "PAPER_ENDPOINT")
    base = _base(endpoint, "PAPER_ENDPOINT") if endpoint else PAPER_URL
    if urlsplit(base).hostname == _LIVE_HOST:
        raise BrokerError(
            f"PAPER_ENDPOINT points at the live API ({base}); paper mode refuses to trade real "
            f"money. Set PAPER_ENDPOINT={PAPER_URL}, or run with --live."
        )
    if _get(env, "PAPER_KEY") and _get(env, "PAPER_SECRET"):
        return AlpacaCredentials(
            key=_get(env, "PAPER_KEY"),
            secret=_get(env, "PAPER_SECRET"),
            base_url=base,
            paper=True,
            source="PAPER_KEY/PAPER_SECRET",
        )
    if _get(env, "ALPACA_API_KEY") and _get(env, "ALPACA_SECRET_KEY"):
        return AlpacaCredentials(
            key=_get(env, "ALPACA_API_KEY"),
            secret=_get(env, "ALPACA_SECRET_KEY"),
            base_url=base,
            paper=True,
            source="ALPACA_API_KEY/ALPACA_SECRET_KEY (paper endpoint)",
        )
    raise BrokerError(
        "No Alpaca paper credentials: set PAPER_KEY and PAPER_SECRET (or ALPACA_API_KEY and "
        "ALPACA_SECRET_KEY). See: stratequeue --broker-setup alpaca"
    )


def _resolve_live(env: Mapping[str, str]) -> AlpacaCredentials:
    required = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL")
    missing = [name for name in required if not _get(env, name)]
    if missing:
        raise BrokerError(
            f"Live trading on Alpaca needs {', '.join(missing)} (paper keys are never used for "
            f"live trading). Set {', '.join(missing)}, or run with --paper. "
            "See: stratequeue --broker-setup alpaca"
        )
    base = _base(_get(env, "ALPACA_BASE_URL"), "ALPACA_BASE_URL")
    if urlsplit(base).hostname == _PAPER_HOST:
        raise BrokerError(
            f"ALPACA_BASE_URL points at the paper API ({base}) but --live was asked for. "
            f"Set ALPACA_BASE_URL={LIVE_URL} for live trading, or run with --paper."
        )
    return AlpacaCredentials(
        key=_get(env, "ALPACA_API_KEY"),
        secret=_get(env, "ALPACA_SECRET_KEY"),
        base_url=base,
        paper=False,
        source="ALPACA_API_KEY/ALPACA_SECRET_KEY/ALPACA_BASE_URL",
    )


def data_credentials(env: Mapping[str, str]) -> tuple[str, str] | None:
    """Keys for market data: any Alpaca key pair works (paper preferred)."""
    for key_var, secret_var in (
        ("PAPER_KEY", "PAPER_SECRET"),
        ("ALPACA_API_KEY", "ALPACA_SECRET_KEY"),
    ):
        if _get(env, key_var) and _get(env, secret_var):
            return _get(env, key_var), _get(env, secret_var)
    return None


def credential_status(env: Mapping[str, str]) -> CredentialStatus:
    """What ``--broker-status`` shows: which modes are configured, never the values."""
    paper_own = bool(_get(env, "PAPER_KEY") and _get(env, "PAPER_SECRET"))
    paper_fallback = bool(_get(env, "ALPACA_API_KEY") and _get(env, "ALPACA_SECRET_KEY"))
    live = paper_fallback and bool(_get(env, "ALPACA_BASE_URL"))
    if paper_own:
        detail = "paper: PAPER_KEY/PAPER_SECRET"
    elif paper_fallback:
        detail = "paper: ALPACA_API_KEY/ALPACA_SECRET_KEY with the paper endpoint"
    else:
        detail = "paper: set PAPER_KEY and PAPER_SECRET"
    if not live:
        detail += "; live: set ALPACA_API_KEY, ALPACA_SECRET_KEY and ALPACA_BASE_URL"
    return CredentialStatus(paper=paper_own or paper_fallback, live=live, detail=detail)


def setup_instructions() -> str:
    return f"""Alpaca setup (stocks, ETFs and crypto; paper and live trading)

1. Sign up at https://alpaca.markets and open the dashboard.
2. Paper trading (recommended first): switch to your Paper account, then
   "API Keys" -> "Generate New Keys". Set:
       export PAPER_KEY=<your paper key id>
       export PAPER_SECRET=<your paper secret key>
       export PAPER_ENDPOINT={PAPER_URL}      # optional, this is the default
3. Live trading (real money): switch to your Live account, generate keys, and set all three:
       export ALPACA_API_KEY=<your live key id>
       export ALPACA_SECRET_KEY=<your live secret key>
       export ALPACA_BASE_URL={LIVE_URL}
   Live mode never falls back to the paper keys. Paper mode falls back to
   ALPACA_API_KEY/ALPACA_SECRET_KEY (with the paper endpoint) when PAPER_KEY is unset.
4. Optional overrides (a proxy, a sandbox, the test fake):
       ALPACA_DATA_URL=https://data.alpaca.markets
       ALPACA_DATA_STREAM_URL=wss://stream.data.alpaca.markets
   The trade_updates stream is derived from the REST base (https://host -> wss://host/stream).
5. Check: stratequeue --broker-status, then stratequeue --broker-setup alpaca (calls the
   account endpoint and prints the account number).
6. Trade: stratequeue --strategy sma.py --symbols AAPL --broker alpaca --paper
"""
