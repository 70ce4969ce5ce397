from __future__ import annotations

import pytest
from stratequeue import hookimpl, plugins
from stratequeue.brokers import BrokerFactory
from stratequeue.brokers.base import BaseBroker
from stratequeue.data import DataProviderFactory
from stratequeue.errors import PluginError


class _Dup:
    @hookimpl
    def register_brokers(self, register):
        register("paper", BaseBroker)


def test_builtins_register_through_the_same_hooks():
    assert {"demo", "csv"} <= set(DataProviderFactory.get_supported_providers())
    assert "paper" in BrokerFactory.get_supported_brokers()
    assert "backtesting" in plugins.registry("signal_extractors").names()
    owners = plugins.registry("brokers").owners
    assert owners["paper"] == "stratequeue.brokers.paper"


def test_two_plugins_claiming_one_name_is_an_error_naming_both():
    plugins.register_plugin(_Dup(), name="dup-plugin")
    with pytest.raises(PluginError) as err:
        plugins.registry("brokers")
    assert "'stratequeue.brokers.paper'" in str(err.value)
    assert "'dup-plugin'" in str(err.value)


def test_unknown_name_lists_installed_and_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setenv("STRATEQUEUE_LOAD_PLUGINS", "")
    plugins.reset()
    with pytest.raises(PluginError) as err:
        BrokerFactory.get_broker_class("alpaca")
    message = str(err.value)
    assert "Unknown broker 'alpaca'" in message
    assert "Installed: paper" in message
    assert 'pip install "stratequeue[trading]"' in message


def test_programmatic_registration_of_the_05_api_is_listed():
    class MyBroker(BaseBroker):
        name = "mybroker"

    BrokerFactory.register_broker("mybroker", MyBroker)
    assert "mybroker" in BrokerFactory.get_supported_brokers()
    assert BrokerFactory.get_broker_class("MyBroker") is MyBroker


def test_plugin_infos_report_what_each_plugin_registers():
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["stratequeue.data.demo"].registers == {"data_sources": ["demo"]}
    assert infos["stratequeue.data.demo"].distribution == "stratequeue-core"
