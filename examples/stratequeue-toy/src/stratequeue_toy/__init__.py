"""The Toy Exchange plugin for StrateQueue: a broker (``--broker toy``), a data source
(``--data-source toy``) and a command (``stratequeue toy-exchange``), registered through the
``stratequeue`` entry-point group (see ``pyproject.toml``)."""

from __future__ import annotations

import click
from stratequeue import hookimpl
from stratequeue.hookspecs import Register

from .broker import ToyBroker
from .source import ToySource

__all__ = ["ToyBroker", "ToySource"]


@hookimpl
def register_brokers(register: Register) -> None:
    register("toy", ToyBroker)


@hookimpl
def register_data_sources(register: Register) -> None:
    register("toy", ToySource)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .command import toy_exchange

    cli.add_command(toy_exchange)
