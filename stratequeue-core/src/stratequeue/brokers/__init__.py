"""Brokers: the registry facade kept from the 0.5 API.

``BrokerFactory.register_broker(name, cls)`` and ``get_supported_brokers()`` work as before,
and list plugin-registered brokers too.
"""

from __future__ import annotations

from .. import plugins
from .base import BaseBroker, BrokerConfig, CredentialStatus, OrderAck
from .choose import choose_broker, open_broker, paper_account_path

__all__ = [
    "BaseBroker",
    "BrokerConfig",
    "BrokerFactory",
    "CredentialStatus",
    "OrderAck",
    "choose_broker",
    "open_broker",
    "paper_account_path",
]


class BrokerFactory:
    @staticmethod
    def register_broker(name: str, cls: type[BaseBroker]) -> None:
        plugins.add_to_registry("brokers", name, cls)

    @staticmethod
    def get_supported_brokers() -> list[str]:
        return plugins.registry("brokers").names()

    @staticmethod
    def get_broker_class(name: str) -> type[BaseBroker]:
        return plugins.registry("brokers").get(name)

    @staticmethod
    def create_broker(name: str, config: BrokerConfig) -> BaseBroker:
        return BrokerFactory.get_broker_class(name)(config)
