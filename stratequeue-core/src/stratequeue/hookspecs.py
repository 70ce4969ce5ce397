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
    """Register broker classes (subclasses of ``stratequeue.brokers.base.BaseBroker``)."""


@hookspec
def register_data_sources(register: Register) -> None:
    """Register data-source classes (subclasses of ``stratequeue.data.base.BaseDataSource``)."""


@hookspec
def register_signal_extractors(register: Register) -> None:
    """Register signal extractors: classes that turn a strategy file into order intents."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the ``stratequeue`` command group."""
