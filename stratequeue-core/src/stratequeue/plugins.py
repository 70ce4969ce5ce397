"""The plugin host: loads entry points of group ``stratequeue`` and the built-ins, and keeps
one registry per kind (brokers, data sources, signal extractors).

Set ``STRATEQUEUE_LOAD_PLUGINS`` to a comma-separated list of plugin names to load only
those (an empty value loads none); the built-ins always load.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

__all__ = [
    "BUILTIN_MODULES",
    "EXTRA_FOR",
    "PluginInfo",
    "Registry",
    "get_plugin_manager",
    "plugin_infos",
    "registry",
]

#: The core's own implementations, registered through the same hooks as third-party plugins.
BUILTIN_MODULES = (
    "stratequeue.data.demo",
    "stratequeue.data.csv_source",
    "stratequeue.brokers.paper",
    "stratequeue.engine.extractor",
)

#: Which ``pip install "stratequeue[EXTRA]"`` provides a name that is not installed.
EXTRA_FOR = {
    "alpaca": "trading",
    "ib": "ib",
    "schwab": "schwab",
    "tda": "schwab",
    "coinbase": "coinbase",
    "coinbase-pro": "coinbase",
    "polygon": "polygon",
    "coinmarketcap": "cmc",
    "cmc": "cmc",
}

KINDS = ("brokers", "data_sources", "signal_extractors")
_KIND_WORDS = {
    "brokers": ("broker", "--broker"),
    "data_sources": ("data source", "--data-source"),
    "signal_extractors": ("signal extractor", "--extractor"),
}


@dataclass
class Registry:
    """Names to classes for one kind, remembering which plugin registered each name."""

    kind: str
    classes: dict[str, type[Any]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, cls: type[Any], owner: str) -> None:
        """Register ``cls`` as ``name`` for plugin ``owner``.

        Raises:
            PluginError: another plugin already registered ``name``; the message names both.
        """
        key = name.lower()
        if key in self.classes and self.owners[key] != owner:
            word = _KIND_WORDS[self.kind][0]
            raise PluginError(
                f"Two plugins register the {word} '{key}': '{self.owners[key]}' and '{owner}'. "
                f"Uninstall one of them, or limit loading with STRATEQUEUE_LOAD_PLUGINS."
            )
        self.classes[key] = cls
        self.owners[key] = owner

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self.classes)

    def get(self, name: str) -> type[Any]:
        """The class registered as ``name`` (any case).

        Raises:
            PluginError: no such name; the message lists the installed names and, for a
                first-party plugin, the ``pip install "stratequeue[EXTRA]"`` that adds it.
        """
        key = (name or "").lower()
        if key in self.classes:
            return self.classes[key]
        word, flag = _KIND_WORDS[self.kind]
        installed = ", ".join(self.names()) or "none"
        hint = ""
        if key in EXTRA_FOR:
            hint = f' Install a plugin: pip install "stratequeue[{EXTRA_FOR[key]}]"'
        raise PluginError(
            f"Unknown {word} '{name}'. Installed: {installed}.{hint or f' Choose one with {flag}.'}"
        )


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``stratequeue plugins`` lists it: what each kind registers."""

    name: str
    distribution: str
    version: str
    registers: dict[str, list[str]]


_pm: pluggy.PluginManager | None = None
_dists: dict[str, Any] = {}  # plugin name -> its distribution (metadata read only when listed)
_registries: dict[str, Registry] | None = None


def _allowed(env_value: str | None) -> set[str] | None:
    if env_value is None:
        return None
    return {n.strip() for n in env_value.split(",") if n.strip()}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager("stratequeue")
        pm.add_hookspecs(hookspecs)
        for module_name in BUILTIN_MODULES:
            pm.register(importlib.import_module(module_name), name=module_name)
        allowed = _allowed(os.environ.get("STRATEQUEUE_LOAD_PLUGINS"))
        for ep in entry_points(group="stratequeue"):
            if allowed is not None and ep.name not in allowed:
                continue
            if pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break the CLI
                raise PluginError(
                    f"Plugin '{ep.name}' ({ep.value}) failed to load: {exc}. "
                    f"Reinstall or uninstall its distribution."
                ) from exc
            pm.register(plugin, name=ep.name)
            if ep.dist is not None:
                _dists[ep.name] = ep.dist
        _pm = pm
    return _pm


def _build(pm: pluggy.PluginManager) -> dict[str, Registry]:
    registries = {kind: Registry(kind) for kind in KINDS}
    for kind in KINDS:
        hook = getattr(pm.hook, f"register_{kind}")
        for impl in hook.get_hookimpls():
            owner = pm.get_name(impl.plugin) or repr(impl.plugin)
            impl.function(register=lambda n, c, _k=kind, _o=owner: registries[_k].add(n, c, _o))
    return registries


def registry(kind: str) -> Registry:
    """The registry of ``kind`` (``brokers``, ``data_sources`` or ``signal_extractors``)."""
    global _registries
    if _registries is None:
        _registries = _build(get_plugin_manager())
    return _registries[kind]


def register_plugin(plugin: object, name: str) -> None:
    """Register an in-process plugin object (tests, embedding) and rebuild the registries."""
    global _registries
    get_plugin_manager().register(plugin, name=name)
    _registries = None


def unregister_plugin(name: str) -> None:
    """Undo ``register_plugin`` (a no-op for an unknown name) and rebuild the registries."""
    global _registries
    pm = get_plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _registries = None


def add_to_registry(kind: str, name: str, cls: type[Any], owner: str = "api") -> None:
    """Programmatic registration (``BrokerFactory.register_broker``)."""
    registry(kind).add(name, cls, owner)


def plugin_infos() -> list[PluginInfo]:
    """What each loaded plugin is and registers, for ``stratequeue plugins``."""
    pm = get_plugin_manager()
    regs = {kind: registry(kind) for kind in KINDS}
    infos = []
    for name, _plugin in pm.list_name_plugin():
        registers = {
            kind: sorted(n for n, owner in regs[kind].owners.items() if owner == name)
            for kind in KINDS
        }
        from . import __version__

        dist = _dists.get(name)
        dist_name, dist_version = (
            (dist.name, dist.version) if dist else ("stratequeue-core", __version__)
        )
        infos.append(
            PluginInfo(name, dist_name, dist_version, {k: v for k, v in registers.items() if v})
        )
    return infos


def reset() -> None:
    """Forget the plugin manager and registries (tests)."""
    global _pm, _registries
    _dists.clear()
    _pm = None
    _registries = None
