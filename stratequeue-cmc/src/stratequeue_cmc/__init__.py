"""CoinMarketCap market data for StrateQueue: ``--data-source coinmarketcap`` (or ``cmc``)."""

from __future__ import annotations

from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .source import CoinMarketCapDataSource

__all__ = ["CoinMarketCapDataSource", "register_data_sources"]


@hookimpl
def register_data_sources(register: Register) -> None:
    register("coinmarketcap", CoinMarketCapDataSource)
    register("cmc", CoinMarketCapDataSource)
