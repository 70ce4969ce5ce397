"""Where the CoinMarketCap plugin connects and with which key, read from the run's env."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from stratequeue.data.live import env_key, env_url
from stratequeue.errors import DataSourceError

__all__ = ["DEFAULT_BASE_URL", "SETUP_TEXT", "CmcSettings"]

DEFAULT_BASE_URL = "https://pro-api.coinmarketcap.com"
SANDBOX = "https://sandbox-api.coinmarketcap.com"
GET_KEY = "a free key at https://coinmarketcap.com/api/"

SETUP_TEXT = """\
CoinMarketCap market data needs an API key.

  1. Sign up at https://coinmarketcap.com/api/ (the Basic plan is free) and copy the key
     from https://pro.coinmarketcap.com/account
  2. Set it for StrateQueue:
       export CMC_API_KEY=your-key
  3. Run:  stratequeue --strategy my_strategy.py --symbols BTC,ETH --data-source coinmarketcap

Live bars are built from quotes/latest, polled on a schedule that fits the key's plan.
Historical bars (ohlcv/historical, hourly and daily only) need a Startup plan or higher;
without it, or for bars finer than 1h, the strategy warms up from live samples.

Optional:
  CMC_BASE_URL      overrides the base URL, e.g. the sandbox
                    https://sandbox-api.coinmarketcap.com (mock data) or a local fake.
  CMC_POLL_SECONDS  seconds between quote polls (default: a quarter of the bar, 15 s to
                    5 min); never shorter than the key's per-minute rate limit allows.
"""


@dataclass(frozen=True)
class CmcSettings:
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    poll_seconds: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CmcSettings:
        key = env_key(env, "CMC_API_KEY", "coinmarketcap", GET_KEY)
        base = env_url(env, "CMC_BASE_URL", DEFAULT_BASE_URL, ("http", "https"), SANDBOX)
        poll_text = (env.get("CMC_POLL_SECONDS") or "").strip()
        poll: float | None = None
        if poll_text:
            try:
                poll = float(poll_text)
            except ValueError:
                poll = math.nan
            if not poll > 0 or math.isinf(poll):
                raise DataSourceError(
                    f"CMC_POLL_SECONDS must be a number of seconds above 0 (got '{poll_text}')"
                )
        return cls(api_key=key, base_url=base, poll_seconds=poll)
