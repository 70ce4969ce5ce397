"""Interactive Brokers (paper and live, through TWS or IB Gateway) for StrateQueue.

Registers the broker ``ib`` and the data source ``ib`` through the ``stratequeue`` entry-point group. ib_async is
imported only when a broker connects.
"""

from __future__ import annotations

from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .broker import IBBroker
from .source import IBDataSource

__all__ = ["IBBroker", "IBDataSource"]


@hookimpl
def register_brokers(register: Register) -> None:
    register("ib", IBBroker)


@hookimpl
def register_data_sources(register: Register) -> None:
    register("ib", IBDataSource)
