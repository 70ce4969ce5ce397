"""StrateQueue: run unmodified backtesting.py strategies live.

Plugins implement the hooks in :mod:`stratequeue.hookspecs` and mark them with
:data:`hookimpl`::

    from stratequeue import hookimpl

    @hookimpl
    def register_brokers(register):
        register("mybroker", MyBroker)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

__all__ = ["__version__", "hookimpl"]

hookimpl = pluggy.HookimplMarker("stratequeue")

try:
    __version__ = version("stratequeue-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
