"""The application: a typed run configuration and the object that owns a run's lifecycle.

``stratequeue`` (live and paper runs), ``stratequeue replay``, the tests and the benchmarks
all drive :class:`App`; the command line only parses options, calls it and prints.
"""

from __future__ import annotations

from .application import App, Confirm, LifecycleError, NotConfirmed, RunSummary
from .config import RunConfig, replays

__all__ = ["App", "Confirm", "LifecycleError", "NotConfirmed", "RunConfig", "RunSummary", "replays"]
