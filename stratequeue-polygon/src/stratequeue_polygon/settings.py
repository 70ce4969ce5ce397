"""Where the Polygon (Massive) plugin connects and with which key, read from the run's env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from stratequeue.data.live import env_key, env_url

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_WS_URL", "SETUP_TEXT", "PolygonSettings"]

DEFAULT_BASE_URL = "https://api.polygon.io"
DEFAULT_WS_URL = "wss://socket.polygon.io"
GET_KEY = "a key at https://polygon.io/dashboard/keys"
WS_EXAMPLE = "wss://socket.polygon.io or ws://127.0.0.1:8080"
REST_EXAMPLE = "https://api.polygon.io or http://127.0.0.1:8080"

SETUP_TEXT = """\
Polygon.io (now Massive) market data needs an API key.

  1. Create a free account at https://polygon.io (or https://massive.com) and copy the
     API key from the dashboard (https://polygon.io/dashboard/keys).
  2. Set it for StrateQueue:
       export POLYGON_API_KEY=your-key
  3. Run:  stratequeue --strategy my_strategy.py --symbols AAPL --data-source polygon

The free plan has no websocket access and allows 5 REST requests per minute: the plugin then
polls REST aggregates instead of streaming (it says so once). Paid plans stream live bars.

Optional, for sandboxes and tests:
  POLYGON_BASE_URL  REST base URL (default https://api.polygon.io)
  POLYGON_WS_URL    websocket URL, its scheme decides TLS (default wss://socket.polygon.io);
                    the market path (/stocks or /crypto) is appended.
"""


@dataclass(frozen=True)
class PolygonSettings:
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    ws_url: str = DEFAULT_WS_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PolygonSettings:
        key = env_key(env, "POLYGON_API_KEY", "polygon", GET_KEY)
        ws = env_url(env, "POLYGON_WS_URL", DEFAULT_WS_URL, ("ws", "wss"), WS_EXAMPLE)
        base = env_url(env, "POLYGON_BASE_URL", DEFAULT_BASE_URL, ("http", "https"), REST_EXAMPLE)
        return cls(api_key=key, base_url=base, ws_url=ws)

    @property
    def ws_secure(self) -> bool:
        return urlsplit(self.ws_url).scheme == "wss"

    @property
    def ws_feed(self) -> str:
        """Host and optional path, as the Massive client's ``feed`` argument wants it."""
        return self.ws_url.split("://", 1)[1]

    def market_url(self, market: str) -> str:
        return f"{self.ws_url}/{market}"
