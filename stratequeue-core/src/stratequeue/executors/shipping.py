"""Runners across a process boundary: pickled once, with their strategy code by reference.

A strategy file is imported under a unique module name (``stratequeue_strategies.<stem>_...``,
see :mod:`stratequeue.engine.loader`) that no other process can import. A runner is pickled
with every class or function of such a module replaced by (module name, qualified name);
the receiving process executes the file's source under that same name once, then resolves
the reference. So the strategy code travels as its file's text (a worker on another machine
needs no copy of the file) and a runner's state travels once, when its shard starts.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["STRATEGY_PACKAGE", "dumps", "loads", "strategy_sources"]

STRATEGY_PACKAGE = "stratequeue_strategies."


def _strategy_ref(obj: Any) -> tuple[str, str] | None:
    if not isinstance(obj, type) and not callable(obj):
        return None
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if not module.startswith(STRATEGY_PACKAGE) or "<locals>" in qualname:
        return None
    return module, qualname


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, type) or type(obj).__name__ == "function":
            return _strategy_ref(obj)
        return None


def dumps(obj: Any) -> bytes:
    """``obj`` pickled, its strategy-file classes and functions by reference."""
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return out.getvalue()


def strategy_sources(
    sleeves: Iterable[Any], modules: Mapping[str, Any] | None = None
) -> dict[str, tuple[str, str]]:
    """The strategy modules of ``sleeves``' runners: name -> (file path, source text), to ship
    to a worker. Only these: another strategy file loaded in this process (an earlier run's)
    may import what exists only here."""
    loaded = sys.modules if modules is None else modules
    wanted = {sleeve.runner.strategy_cls.__module__ for sleeve in sleeves}
    found = {}
    for name in sorted(wanted):
        module = loaded.get(name)
        path = getattr(module, "__file__", None)
        if name.startswith(STRATEGY_PACKAGE) and path:
            found[name] = (str(path), Path(path).read_text(encoding="utf-8"))
    return found


def install_sources(sources: Mapping[str, tuple[str, str]]) -> None:
    """Execute each shipped strategy module under its own name (once per process)."""
    for name, (path, text) in sources.items():
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_loader(name, loader=None, origin=path)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        module.__file__ = path
        sys.modules[name] = module
        folder = str(Path(path).parent)
        if Path(folder).is_dir() and folder not in sys.path:
            sys.path.append(folder)  # the file's own helper modules, where the folder exists
        exec(compile(text, path, "exec"), module.__dict__)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        module_name, qualname = pid
        module = sys.modules.get(module_name)
        if module is None:
            raise pickle.UnpicklingError(
                f"Strategy module {module_name} was not shipped to this worker."
            )
        obj: Any = module
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj


def loads(data: bytes) -> Any:
    """The object :func:`dumps` pickled; its strategy modules must be installed first."""
    return _Unpickler(io.BytesIO(data)).load()
