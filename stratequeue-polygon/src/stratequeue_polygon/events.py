"""What a websocket feed tells the source, and its reconnect backoff (no I/O libraries here,
so the source can use them without importing ``massive``/``websockets``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff", "Connected", "NoWebsocket"]


@dataclass(frozen=True)
class Connected:
    market: str
    reconnect: bool


@dataclass(frozen=True)
class NoWebsocket:
    market: str
    reason: str


@dataclass
class Backoff:
    """Delays between reconnect attempts: ``first``, doubling, capped at ``cap`` seconds."""

    first: float = 1.0
    cap: float = 60.0
    attempt: int = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
