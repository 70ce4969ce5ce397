"""The loopback server the fake vendor runs on (shared with the other plugins' fakes)."""

from __future__ import annotations

from stratequeue.testing import ServerThread

__all__ = ["ServerThread"]
