"""Indicators for a live strategy: ``init()`` on a throwaway shadow instance every bar.

Backtest.run calls ``init()`` once on the whole data and reveals the indicators bar by bar.
Live, the data grows, so each bar a fresh "shadow" instance runs ``init()`` over all bars so
far and its indicators move onto the one persistent live instance (whose ``next()`` state must
survive). For causal indicators the values are bit-identical to the backtest's: same
functions, same inputs, same prefix. Indicators that look ahead cannot be reproduced live;
:class:`LookaheadCheck` notices when already-seen values change and warns once.
"""

from __future__ import annotations

import logging
import types
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting._util import _Array, _as_str, _Indicator, _strategy_indicators

from ..errors import StrategyError

__all__ = [
    "InitState",
    "LookaheadCheck",
    "build_shadow",
    "probe_lookahead",
    "transfer",
    "warmup_start",
]

log = logging.getLogger(__name__)

#: Attributes ``Strategy.__init__`` sets; never copied from a shadow.
_BASE_ATTRS = frozenset({"_indicators", "_broker", "_data", "_params", "I"})


_NAMES: dict[Any, Any] = {}


def _name_key(value: Any) -> Any:
    """What ``_as_str`` reads of ``value``: the name of an array, else the value itself."""
    if isinstance(value, _Array):
        return (_Array, value.name)
    if type(value) in (int, float, str, bool):
        return (type(value), value)
    raise TypeError  # not cached


def _indicator_name(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: Any) -> Any:
    """The name ``Strategy.I`` gives an indicator (shown in ``_trades`` column names).

    Cached per function and argument names: the same ``self.I(...)`` line repeats every bar.
    """
    try:
        key = (
            func,
            tuple(map(_name_key, args)),
            tuple((k, _name_key(v)) for k, v in kwargs.items()),
            name if name is None or isinstance(name, str) else tuple(name),
        )
        hash(key)
    except TypeError:
        return _format_indicator_name(func, args, kwargs, name)
    cached = _NAMES.get(key)
    if cached is None:
        if len(_NAMES) > 4096:
            _NAMES.clear()
        cached = _NAMES[key] = _format_indicator_name(func, args, kwargs, name)
    return list(cached) if isinstance(cached, list) else cached


def _format_indicator_name(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: Any
) -> Any:
    if name is None:
        params = ",".join(filter(None, map(_as_str, chain(args, kwargs.values()))))
        return f"{_as_str(func)}({params})" if params else _as_str(func)

    def fmt(text: str) -> str:
        return text.format(
            *map(_as_str, args), **dict(zip(kwargs, map(_as_str, kwargs.values()), strict=True))
        )

    if isinstance(name, str):
        return fmt(name)
    if isinstance(name, list | tuple) and all(isinstance(item, str) for item in name):
        return [fmt(item) for item in name]
    raise TypeError(f"Unexpected `name=` type {type(name)}; expected `str` or `Sequence[str]`")


def _fast_I(  # noqa: N802 - mirrors Strategy.I
    self: Strategy,
    func: Any,
    *args: Any,
    name: Any = None,
    plot: bool = True,
    overlay: Any = None,
    color: Any = None,
    scatter: bool = False,
    **kwargs: Any,
) -> Any:
    """``Strategy.I`` for shadow instances: the same values, names and checks, minus two
    per-bar costs that only serve plotting: the overlay guess (O(n)) and slicing
    ``data.index`` (the indicator keeps the buffer's index, which ``.s`` slices anyway)."""
    name = _indicator_name(func, args, kwargs, name)
    try:
        value = func(*args, **kwargs)
    except Exception as e:
        raise RuntimeError(f'Indicator "{name}" error. See traceback above.') from e
    if isinstance(value, pd.DataFrame):
        value = value.values.T
    if type(value) is pd.Series and isinstance(value.dtype, np.dtype):
        value = np.asarray(value.values, order="C")  # what np.asarray(series) gives, faster
    elif value is not None:
        try:
            value = np.asarray(value, order="C")
        except Exception:
            value = None
    is_arraylike = bool(value is not None and value.shape)
    n = len(self._data)
    if is_arraylike and value.shape[0] == n:
        value = value.T
    if isinstance(name, list) and np.atleast_2d(value).shape[0] != len(name):
        raise ValueError(
            f"Length of `name=` ({len(name)}) must agree with the number "
            f"of arrays the indicator returns ({value.shape[0]})."
        )
    if not is_arraylike or not 1 <= value.ndim <= 2 or value.shape[-1] != n:
        raise ValueError(
            "Indicators must return (optionally a tuple of) numpy.arrays of same length as "
            f'`data` (data length: {n}; indicator "{name}" shape: '
            f"{getattr(value, 'shape', '')}, returned value: {value})"
        )
    indicator = _Indicator(
        value,
        name=name,
        plot=plot,
        overlay=bool(overlay),
        color=color,
        scatter=scatter,
        index=self._data._Data__arrays["__index"],
    )
    self._indicators.append(indicator)
    return indicator


def build_shadow(cls: type[Strategy], broker: Any, data: Any, params: dict[str, Any]) -> Strategy:
    """A new instance of ``cls`` with ``init()`` run on ``data`` as it is now."""
    shadow = cls(broker, data, dict(params))
    if cls.I is Strategy.I:
        shadow.I = types.MethodType(_fast_I, shadow)  # type: ignore[method-assign]
        shadow.init()
        del shadow.I
    else:
        shadow.init()
    data._update()  # init() may have added columns to data.df (Backtest.run does the same)
    return shadow


def _data_arrays(strategy: Strategy, n: int) -> list[tuple[str, Any]]:
    """Direct attributes that are indicators or other arrays as long as the data."""
    found = []
    for name, value in strategy.__dict__.items():
        if name in _BASE_ATTRS:
            continue
        if isinstance(value, _Indicator) or _is_data_array(value, n):
            found.append((name, value))
    return found


def _is_data_array(value: Any, n: int) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim >= 1 and value.shape[-1] == n
    return isinstance(value, pd.Series | pd.DataFrame) and len(value) == n


def transfer(shadow: Strategy, live: Strategy, n: int) -> list[tuple[str, Any]]:
    """Move the shadow's indicators (and data-length arrays set in init) onto ``live``.

    Returns the moved ``(attribute, value)`` pairs for the look-ahead check.
    """
    moved = _data_arrays(shadow, n)
    live_dict = live.__dict__
    for name, value in moved:
        live_dict[name] = value
    live._indicators = shadow._indicators
    return moved


def warmup_start(strategy: Strategy, settled: bool = True) -> int | None:
    """First bar Backtest.run calls ``next()`` on: ``1 + _indicator_warmup_nbars``, the
    longest run of leading NaN among the non-scatter indicator attributes, where an indicator
    NaN everywhere counts as needing none.

    Live, an indicator NaN on every bar so far may still be warming up: unless ``settled``
    (enough bars seen to call it NaN for good), the answer is None while one is.
    """
    nbars = 0
    for _, indicator in _strategy_indicators(strategy):
        if indicator._opts["scatter"]:
            continue
        isnan = np.isnan(indicator.astype(float))
        if not isnan.size:
            continue
        if not settled and isnan.all(axis=-1).any():
            return None
        # argmin of an all-True row is 0: Backtest.run's "needs none"
        nbars = max(nbars, int(isnan.argmin(axis=-1).max()))
    return 1 + nbars


class LookaheadCheck:
    """Warn once per attribute when a recomputed array changes values already seen.

    Compares the last ``window`` values the previous check saw (all of them while the
    history is short), which catches centred windows, ``bfill`` and whole-series statistics.
    Every bar is checked for the first ``dense`` bars, then every ``every``-th bar.
    """

    def __init__(
        self, strategy_name: str, window: int = 256, dense: int = 64, every: int = 8
    ) -> None:
        self.strategy_name = strategy_name
        self.window = window
        self.dense = dense
        self.every = every
        self._count = 0
        self._previous: dict[str, tuple[int, np.ndarray]] = {}
        self.flagged: set[str] = set()

    def reset(self) -> None:
        self._previous.clear()

    def observe(self, moved: list[tuple[str, Any]]) -> None:
        self._count += 1
        if self._count > self.dense and self._count % self.every:
            return
        previous, current = self._previous, {}
        for name, value in moved:
            if name in self.flagged:
                continue
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            if arr.dtype.kind not in "fiub":
                continue
            # a copy of the tail: next() may write into an indicator (a plotted forecast)
            current[name] = (arr.shape[-1], arr[..., -self.window :].copy())
            old_entry = previous.get(name)
            if old_entry is None:
                continue
            m, old = old_entry
            if old.shape[:-1] != arr.shape[:-1]:
                continue
            lo = m - old.shape[-1]
            if m > arr.shape[-1] or not _same(old, arr[..., lo:m]):
                self.flag(name)
        self._previous = current

    def flag(self, name: str, first: int | None = None) -> None:
        """Warn once that ``name`` looks ahead (``first``: found by :func:`probe_lookahead`
        on the first bars)."""
        if name in self.flagged:
            return
        self.flagged.add(name)
        how = (
            f"its values on the first {first} bars change once later bars exist"
            if first is not None
            else "it changed values of bars already seen when a new bar arrived"
        )
        log.warning(
            "Strategy %s: '%s' looks ahead (%s: bfill, a centred window, a whole-series "
            "statistic), so live decisions can differ from the backtest's.",
            self.strategy_name,
            _display(name),
            how,
        )


def probe_lookahead(
    check: LookaheadCheck, build: Any, frame: pd.DataFrame, prefixes: int = 10
) -> None:
    """Look-ahead from the first bar: ``init()`` on short prefixes of ``frame`` (2, 4, 8, ...
    bars) against ``init()`` on all of it. An array whose values on a prefix differ from the
    whole's first values used later bars (``bfill``, a centred window, a whole-series
    statistic): warned once by name, before any decision. ``build(frame)`` returns
    ``(strategy, n)``: a shadow instance with ``init()`` run on ``frame``."""
    n = len(frame)
    if n < 4:
        return
    whole = dict(_data_arrays(*build(frame)))
    k = 2
    while k < n and prefixes:
        prefixes -= 1
        try:
            part, m = build(frame.iloc[:k])
        except StrategyError:  # init() needs more bars than k (a model trained on N rows)
            k *= 2
            continue
        for name, value in _data_arrays(part, m):
            full = whole.get(name)
            if full is None or name in check.flagged:
                continue
            a = np.asarray(value)
            b = np.asarray(full)
            if (
                a.dtype.kind not in "fiub"
                or b.dtype.kind not in "fiub"
                or a.shape[:-1] != b.shape[:-1]
            ):
                continue
            if not _same(a, b[..., :m]):
                check.flag(name, first=k)
        k *= 2


_PLAIN = (bool, int, float, str, type(None), np.bool_, np.integer, np.floating)


def _plain_state(strategy: Strategy) -> dict[str, Any]:
    """Attributes ``init()`` set to plain values (flags, counts, thresholds, names)."""
    return {
        name: value
        for name, value in strategy.__dict__.items()
        if name not in _BASE_ATTRS and isinstance(value, _PLAIN)
    }


class InitState:
    """Warn once per attribute when ``init()`` computes a plain value from the data that
    differs from the live instance's: live, an attribute set in ``init()`` keeps the value of
    the instance's own first ``init()`` (on the bars of that moment), while the backtest's was
    computed over all its data (``self.flag = len(self.data) > 20``)."""

    def __init__(self, strategy_name: str) -> None:
        self.strategy_name = strategy_name
        self._live: dict[str, Any] = {}
        self.flagged: set[str] = set()

    def keep(self, live: Strategy) -> None:
        """The live instance's values right after its ``init()``."""
        self._live = _plain_state(live)

    def observe(self, shadow: Strategy, n: int) -> None:
        for name, value in _plain_state(shadow).items():
            if name in self.flagged or name not in self._live:
                continue
            kept = self._live[name]
            if kept == value or (kept != kept and value != value):  # NaN is NaN
                continue
            self.flagged.add(name)
            log.warning(
                "Strategy %s: init() sets '%s' from the data: %r on the bars of the live "
                "instance's init(), %r on the %d bars now. Live it keeps the first value; a "
                "backtest computes it over all its data, so decisions can differ. Compute it "
                "in next(), or as an indicator.",
                self.strategy_name,
                _display(name),
                kept,
                value,
                n,
            )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if np.array_equal(a, b):
        return True
    return a.dtype.kind == "f" and bool(np.array_equal(a, b, equal_nan=True))


def _display(attr: str) -> str:
    """``_TrailingStrategy__atr`` -> ``TrailingStrategy.__atr`` (undo name mangling)."""
    if attr.startswith("_") and "__" in attr[1:]:
        owner, _, rest = attr[1:].partition("__")
        return f"{owner}.__{rest}"
    return attr
