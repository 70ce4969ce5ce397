"""The hooks a StrateQueue plugin can implement.

Each ``register_*`` hook receives a ``register(name, cls)`` callback; call it once per
implementation the plugin provides. Plugins are found through the ``stratequeue``
entry-point group; the core's own built-ins register through these same hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import pluggy

__all__ = ["Register", "hookspec"]

hookspec = pluggy.HookspecMarker("stratequeue")

#: ``register(name, cls)``: make ``cls`` available under ``name`` (e.g. ``--broker NAME``).
Register = Callable[[str, type[Any]], None]


@hookspec
def register_brokers(register: Register) -> None:
    """Register broker classes: ``register(name, cls)`` once per broker.

    Args:
        register: call with the name users pass to ``--broker`` (lower case) and a subclass of
            :class:`stratequeue.brokers.base.BaseBroker`. StrateQueue builds the class with a
            :class:`~stratequeue.brokers.base.BrokerConfig` when a run chooses it.

    Called once per process, the first time a registry is needed. A name another plugin
    already registered raises :class:`~stratequeue.errors.PluginError` naming both plugins.
    """


@hookspec
def register_data_sources(register: Register) -> None:
    """Register data-source classes: ``register(name, cls)`` once per source.

    Args:
        register: call with the name users pass to ``--data-source`` and a subclass of
            :class:`stratequeue.data.base.BaseDataSource`, built with a
            :class:`~stratequeue.data.base.DataSourceConfig` when a run uses it.

    A name another plugin already registered raises :class:`~stratequeue.errors.PluginError`.
    """


@hookspec
def register_signal_extractors(register: Register) -> None:
    """Register signal extractors: classes that turn a strategy file into order intents.

    Args:
        register: call with a name and a class with ``load(path)`` (the strategy file, or a
            :class:`~stratequeue.errors.StrategyLoadError`) and ``runner(loaded, *,
            strategy_id, symbol, options, params, fills)`` (one runner per strategy and
            symbol), as :class:`stratequeue.engine.extractor.BacktestingExtractor`.

    Runs use the built-in ``backtesting`` extractor; there is no option choosing another yet.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the ``stratequeue`` command group.

    Args:
        cli: the ``stratequeue`` :class:`click.Group`; call ``cli.add_command(command)`` or
            decorate with ``@cli.command()``.

    Called lazily, when the command list is needed (``--help``, or a command name the core
    does not have), so import heavy modules inside the commands, not at the top of the plugin.
    """
