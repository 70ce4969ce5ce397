"""Charles Schwab broker for StrateQueue (``schwab``, and ``tda``: TD Ameritrade moved there).

Registers the brokers through the ``stratequeue`` entry-point group. schwab-py is imported only
when a broker connects.
"""

from __future__ import annotations

from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .broker import SchwabBroker, TdaBroker
from .source import SchwabDataSource

__all__ = ["SchwabBroker", "SchwabDataSource", "TdaBroker"]


@hookimpl
def register_brokers(register: Register) -> None:
    register("schwab", SchwabBroker)
    register("tda", TdaBroker)


@hookimpl
def register_data_sources(register: Register) -> None:
    register("schwab", SchwabDataSource)
