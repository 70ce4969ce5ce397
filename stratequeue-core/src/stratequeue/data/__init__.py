"""Data sources: the registry facade kept from the 0.5 API.

``DataProviderFactory.get_supported_providers()`` lists every registered source, the
built-ins (``demo``, ``csv``) and plugin ones alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import plugins
from ..granularity import parse_granularity
from .base import BaseDataSource, DataSourceConfig

__all__ = ["BaseDataSource", "DataProviderFactory", "DataSourceConfig", "create_data_source"]


class DataProviderFactory:
    @staticmethod
    def register_provider(name: str, cls: type[BaseDataSource]) -> None:
        plugins.add_to_registry("data_sources", name, cls)

    @staticmethod
    def get_supported_providers() -> list[str]:
        return plugins.registry("data_sources").names()

    @staticmethod
    def get_provider_class(name: str) -> type[BaseDataSource]:
        return plugins.registry("data_sources").get(name)


def create_data_source(
    name: str, granularity: str, env: Mapping[str, str], **options: Any
) -> BaseDataSource:
    """Build the source ``name`` for ``granularity``, checking the granularity is supported."""
    cls = DataProviderFactory.get_provider_class(name)
    gran = parse_granularity(granularity, cls.granularities)
    return cls(DataSourceConfig(granularity=gran, env=dict(env), options=options))
