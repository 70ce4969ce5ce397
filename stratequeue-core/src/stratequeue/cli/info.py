"""The informational flags: --list-brokers, --broker-status, --broker-setup, --data-setup,
--list-granularities, and the ``plugins`` command. None of them prints a secret."""

from __future__ import annotations

import os
from typing import Any

import click
from rich.table import Table

from .. import plugins
from ..display import make_console
from ..errors import BrokerError
from ..granularity import GRANULARITIES

_console = make_console()


def _print(table: Table) -> None:
    _console.print(table)


def list_brokers() -> None:
    registry = plugins.registry("brokers")
    table = Table(title="🏦 INSTALLED BROKERS")
    for column in ("Broker", "Name", "Plugin", "Paper", "Live", "Details"):
        table.add_column(column)
    for name in registry.names():
        cls = registry.get(name)
        live = "✅" if name != "paper" else "❌"
        details = "; ".join(f"{k}: {v}" for k, v in getattr(cls, "features", {}).items())
        table.add_row(name, cls.display_name or name, registry.owners[name], "✅", live, details)
    _print(table)
    _console.print('💡 More brokers: pip install "stratequeue[trading]" (Alpaca)', markup=False)


def broker_status() -> None:
    registry = plugins.registry("brokers")
    env = dict(os.environ)
    table = Table(title="🏦 BROKER ENVIRONMENT STATUS")
    for column in ("Broker", "Paper Creds", "Live Creds", "Status"):
        table.add_column(column)
    for name in registry.names():
        cls = registry.get(name)
        status = cls.credential_status(env)
        paper = "✅ Built in" if name == "paper" else ("✅ Found" if status.paper else "❌ Missing")
        live = "– n/a" if name == "paper" else ("✅ Found" if status.live else "❌ Missing")
        table.add_row(
            cls.display_name or name,
            paper,
            live,
            "Paper Ready" if name == "paper" else status.status,
        )
    _print(table)
    _console.print(
        "💡 Run 'stratequeue --broker-setup <broker>' for setup instructions", markup=False
    )


def broker_setup(name: str) -> None:
    registry = plugins.registry("brokers")
    names = registry.names() if name.lower() == "all" else [name]
    for broker in names:
        cls = registry.get(broker)
        _console.print(f"🔧 {cls.display_name or broker} ({broker})", markup=False)
        _console.print(cls.setup_instructions(), markup=False)
        env = dict(os.environ)
        if name.lower() != "all" and not _walk_setup(cls, env):
            raise SystemExit(1)
        validate = getattr(cls, "validate_credentials", None)
        status = cls.credential_status(env)
        for paper, present in ((True, status.paper), (False, status.live)):
            if validate is None or not present or broker == "paper":
                continue
            label = "Paper" if paper else "Live"
            try:
                account = validate(env, paper)
            except Exception as exc:  # the plugin's message names the problem
                _console.print(f"❌ {label} credentials were rejected: {exc}", markup=False)
            else:
                _console.print(f"✅ {label} credentials work: account {account}", markup=False)
        _console.print("")


def _walk_setup(cls: Any, env: dict[str, str]) -> bool:
    """The broker's own login, when it has one; False when it failed (said in one line)."""
    try:
        cls.interactive_setup(
            env,
            ask=lambda prompt: str(click.prompt(prompt, default="", show_default=False)),
            say=lambda line: _console.print(line, markup=False),
        )
    except click.Abort:
        _console.print("❌ Login not finished: run --broker-setup again to log in.", markup=False)
        return False
    except BrokerError as exc:
        _console.print(f"❌ {exc}", markup=False)
        return False
    return True


def data_setup(name: str) -> None:
    cls = plugins.registry("data_sources").get(name)
    _console.print(f"📡 {cls.display_name or name} ({name})", markup=False)
    _console.print(cls.setup_instructions(), markup=False)
    missing = cls.missing_env(dict(os.environ))
    if missing:
        _console.print(f"❌ Not set: {', '.join(missing)}", markup=False)
    elif cls.env_vars:
        _console.print(f"✅ Set: {', '.join(cls.env_vars)}", markup=False)


def list_granularities() -> None:
    registry = plugins.registry("data_sources")
    table = Table(title="⏱  GRANULARITIES")
    table.add_column("Data source")
    table.add_column("Granularities")
    for name in registry.names():
        cls = registry.get(name)
        table.add_row(name, ", ".join(g for g in GRANULARITIES if g in cls.granularities))
    _print(table)


def list_plugins() -> None:
    table = Table(title="🔌 PLUGINS")
    for column in ("Plugin", "Distribution", "Version", "Registers"):
        table.add_column(column)
    for info in plugins.plugin_infos():
        registers = "; ".join(
            f"{kind.replace('_', ' ')}: {', '.join(names)}"
            for kind, names in info.registers.items()
        )
        table.add_row(info.name, info.distribution, info.version, registers or "commands only")
    _print(table)
