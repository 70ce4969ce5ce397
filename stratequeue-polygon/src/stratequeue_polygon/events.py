"""What a websocket feed tells the source (no I/O libraries here, so the source can use them
without importing ``massive``/``websockets``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Connected", "NoWebsocket"]


@dataclass(frozen=True)
class Connected:
    market: str
    reconnect: bool


@dataclass(frozen=True)
class NoWebsocket:
    market: str
    reason: str
