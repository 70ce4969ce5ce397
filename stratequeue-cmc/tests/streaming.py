"""Runs a source's blocking ``stream()`` in a thread (the core's shared test helper)."""

from __future__ import annotations

from stratequeue.testing import StreamRunner

__all__ = ["StreamRunner"]
