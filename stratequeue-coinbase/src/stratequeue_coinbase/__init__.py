"""Coinbase Advanced Trade broker and Coinbase's free public crypto market data for
StrateQueue.

Registers the brokers ``coinbase`` (and ``coinbase-pro``, which says it is Advanced Trade now)
and the data source ``coinbase`` through the ``stratequeue`` entry-point group.
"""

from __future__ import annotations

from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .broker import CoinbaseBroker, CoinbaseProBroker
from .source import CoinbaseDataSource

__all__ = ["CoinbaseBroker", "CoinbaseDataSource", "CoinbaseProBroker"]


@hookimpl
def register_brokers(register: Register) -> None:
    register("coinbase", CoinbaseBroker)
    register("coinbase-pro", CoinbaseProBroker)


@hookimpl
def register_data_sources(register: Register) -> None:
    register("coinbase", CoinbaseDataSource)
