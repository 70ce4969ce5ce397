"""Interactive Brokers (paper and live, through TWS or IB Gateway) for StrateQueue.

Registers the broker ``ib`` through the ``stratequeue`` entry-point group. ib_async is
imported only when a broker connects.
"""

from __future__ import annotations

from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .broker import IBBroker

__all__ = ["IBBroker"]


@hookimpl
def register_brokers(register: Register) -> None:
    register("ib", IBBroker)
