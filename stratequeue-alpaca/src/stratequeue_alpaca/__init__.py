"""Alpaca broker (paper and live) and market data for StrateQueue.

Registers the broker ``alpaca`` and the data source ``alpaca`` through the ``stratequeue``
entry-point group. alpaca-py is imported only when a broker connects or a source fetches data.
"""

from __future__ import annotations

from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .broker import AlpacaBroker
from .data import AlpacaDataSource

__all__ = ["AlpacaBroker", "AlpacaDataSource"]


@hookimpl
def register_brokers(register: Register) -> None:
    register("alpaca", AlpacaBroker)


@hookimpl
def register_data_sources(register: Register) -> None:
    register("alpaca", AlpacaDataSource)
