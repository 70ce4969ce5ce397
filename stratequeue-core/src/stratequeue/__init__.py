"""StrateQueue: run unmodified backtesting.py strategies live.

Plugins implement the hooks in :mod:`stratequeue.hookspecs` and mark them with
:data:`hookimpl`::

    from stratequeue import hookimpl

    @hookimpl
    def register_brokers(register):
        register("mybroker", MyBroker)
"""

from __future__ import annotations

import pluggy

from ._version import __version__

__all__ = ["__version__", "hookimpl"]

hookimpl = pluggy.HookimplMarker("stratequeue")
