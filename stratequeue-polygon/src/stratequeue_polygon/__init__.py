"""Polygon.io (Massive) market data for StrateQueue: ``--data-source polygon``."""

from __future__ import annotations

from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .source import PolygonDataSource

__all__ = ["PolygonDataSource", "register_data_sources"]


@hookimpl
def register_data_sources(register: Register) -> None:
    register("polygon", PolygonDataSource)
