"""Load a strategy file: find the one backtesting.py Strategy class it is about.

Errors are one line naming the file and the fix (``StrategyLoadError``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from backtesting import Strategy

from ..errors import StrategyLoadError

__all__ = ["LoadedStrategy", "load_strategy"]

_counter = itertools.count(1)


@dataclass(frozen=True)
class LoadedStrategy:
    """A strategy class found in a file, with the file's ``LOOKBACK`` and ``FRACTIONAL_UNIT``
    (None if absent)."""

    cls: type[Strategy]
    path: Path
    lookback: int | None
    name: str
    fractional_unit: float | None = None
    #: ``TIMEZONE``: the IANA zone whose naive wall times the strategy sees as bar times
    timezone: str | None = None
    #: module-level ``prepare_data(df) -> df``: adds columns to the history before the strategy
    prepare_data: Callable[[Any], Any] | None = None


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"stratequeue_strategies.{path.stem}_{digest}_{next(_counter)}"


#: Modules a strategy may import that come with an extra of the ``stratequeue`` distribution.
_EXTRAS = {"talib": "analytics", "scipy": "analytics"}


def _install_hint(module: str | None) -> str:
    """The command that installs ``module``: an extra of ours where one provides it."""
    top = (module or "").partition(".")[0]
    if top in _EXTRAS:
        return f'pip install "stratequeue[{_EXTRAS[top]}]"'
    return f"pip install {module}"


def _exec_module(path: Path) -> ModuleType:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StrategyLoadError(
            f"Cannot read strategy file {path}: {exc}. Check the file."
        ) from exc
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise StrategyLoadError(
            f"Syntax error in {path} line {exc.lineno}: {exc.msg}. Fix the file and try again."
        ) from exc
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickling and typing look modules up by name
    try:
        exec(code, module.__dict__)
    except ModuleNotFoundError as exc:
        sys.modules.pop(name, None)
        raise StrategyLoadError(
            f"{path} imports '{exc.name}', which is not installed. "
            f"Install it ({_install_hint(exc.name)}) or remove the import."
        ) from exc
    except ImportError as exc:
        sys.modules.pop(name, None)
        raise StrategyLoadError(f"{path} failed to import: {exc}. Fix the import.") from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise StrategyLoadError(
            f"{path} raised {type(exc).__name__} while loading: {exc}. Fix the module-level code."
        ) from exc
    return module


def _is_user_strategy(value: object) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, Strategy)
        and not value.__module__.startswith("backtesting")
        and not inspect.isabstract(value)
    )


def _is_strategy(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Strategy) and not inspect.isabstract(value)


def _choose(module: ModuleType, path: Path) -> type[Strategy]:
    selector = getattr(module, "STRATEGY", None)
    if selector is not None:
        # Named explicitly, a class from a library (backtesting.lib's, a shared package's)
        # is the strategy too: only a search of the file skips imported library classes.
        chosen = getattr(module, selector, None) if isinstance(selector, str) else selector
        if not _is_strategy(chosen):
            raise StrategyLoadError(
                f"{path} sets STRATEGY = {selector!r}, which is not a concrete backtesting.py "
                "Strategy subclass. Set it to your strategy class (or its name in the file)."
            )
        return chosen  # type: ignore[return-value]
    found = {id(v): v for v in vars(module).values() if _is_user_strategy(v)}
    candidates = list(found.values())
    # A base class with a subclass next to it: the subclass is the strategy.
    candidates = [
        c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)
    ]
    defined = [c for c in candidates if c.__module__ == module.__name__]
    pool = defined or candidates
    if not pool:
        raise StrategyLoadError(
            f"No backtesting.py Strategy subclass in {path}. Define one: "
            "class MyStrategy(Strategy) with init() and next()."
        )
    if len(pool) > 1:
        names = ", ".join(sorted(c.__name__ for c in pool))
        raise StrategyLoadError(
            f"{path} has several Strategy classes ({names}). Keep one, or add "
            f'STRATEGY = "{sorted(c.__name__ for c in pool)[0]}" to choose.'
        )
    return pool[0]


def _lookback(module: ModuleType, path: Path) -> int | None:
    value = getattr(module, "LOOKBACK", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StrategyLoadError(
            f"{path} sets LOOKBACK = {value!r}; it must be a positive whole number of bars."
        )
    return value


def _fractional_unit(module: ModuleType, path: Path) -> float | None:
    from ..errors import UsageError
    from .units import check_unit

    try:
        return check_unit(getattr(module, "FRACTIONAL_UNIT", None), f"{path} FRACTIONAL_UNIT")
    except UsageError as exc:
        raise StrategyLoadError(str(exc)) from None


def _timezone(module: ModuleType, path: Path) -> str | None:
    from ..errors import UsageError
    from .times import zone_view

    value = getattr(module, "TIMEZONE", None)
    if value is None:
        return None
    try:
        zone_view(value, f"{path} TIMEZONE")
    except UsageError as exc:
        raise StrategyLoadError(str(exc)) from None
    return str(value)


def _prepare_data(module: ModuleType, path: Path) -> Callable[[Any], Any] | None:
    hook = getattr(module, "prepare_data", None)
    if hook is not None and not callable(hook):
        raise StrategyLoadError(
            f"{path} sets prepare_data = {hook!r}; it must be a function taking the history "
            "DataFrame and returning it with the columns the strategy reads."
        )
    return hook


def load_strategy(path: str | Path) -> LoadedStrategy:
    """Import ``path`` under a unique module name and return its Strategy class."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise StrategyLoadError(
            f"Strategy file not found: {file}. Check the path (relative to {Path.cwd()})."
        )
    file = file.resolve()
    module = _exec_module(file)
    cls = _choose(module, file)
    return LoadedStrategy(
        cls=cls,
        path=file,
        lookback=_lookback(module, file),
        name=cls.__name__,
        fractional_unit=_fractional_unit(module, file),
        timezone=_timezone(module, file),
        prepare_data=_prepare_data(module, file),
    )
