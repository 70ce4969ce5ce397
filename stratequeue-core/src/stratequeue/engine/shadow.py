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
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting._util import _Indicator, _strategy_indicators

__all__ = ["LookaheadCheck", "build_shadow", "transfer", "warmup_start"]

log = logging.getLogger(__name__)

#: Attributes ``Strategy.__init__`` sets; never copied from a shadow.
_BASE_ATTRS = frozenset({"_indicators", "_broker", "_data", "_params", "I"})


def _quick_I(self: Strategy, func: Any, *args: Any, overlay: Any = None, **kwargs: Any) -> Any:  # noqa: N802
    """``Strategy.I`` without the plot-only overlay guess, which costs O(n) per indicator."""
    return type(self).I(self, func, *args, overlay=bool(overlay), **kwargs)


def build_shadow(cls: type[Strategy], broker: Any, data: Any, params: dict[str, Any]) -> Strategy:
    """A new instance of ``cls`` with ``init()`` run on ``data`` as it is now."""
    shadow = cls(broker, data, dict(params))
    shadow.I = types.MethodType(_quick_I, shadow)  # type: ignore[method-assign]
    shadow.init()
    del shadow.I
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


def warmup_start(strategy: Strategy) -> int | None:
    """First bar Backtest.run would call ``next()`` on, or None while an indicator is all-NaN.

    Matches ``1 + _indicator_warmup_nbars`` once every non-scatter indicator has a value.
    """
    nbars = 0
    for _, indicator in _strategy_indicators(strategy):
        if indicator._opts["scatter"]:
            continue
        isnan = np.isnan(indicator.astype(float))
        if isnan.size and isnan.all(axis=-1).any():
            return None
        if isnan.size:
            nbars = max(nbars, int(isnan.argmin(axis=-1).max()))
    return 1 + nbars


class LookaheadCheck:
    """Warn once per attribute when a recomputed array changes values already seen.

    Compares the last ``window`` values the previous bar showed (all of them while the
    history is short), which catches centred windows, ``bfill`` and whole-series statistics.
    """

    def __init__(self, strategy_name: str, window: int = 256) -> None:
        self.strategy_name = strategy_name
        self.window = window
        self._previous: dict[str, np.ndarray] = {}
        self.flagged: set[str] = set()

    def reset(self) -> None:
        self._previous.clear()

    def observe(self, moved: list[tuple[str, Any]]) -> None:
        previous, current = self._previous, {}
        for name, value in moved:
            if name in self.flagged:
                continue
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            if arr.dtype.kind not in "fiub":
                continue
            current[name] = arr
            old = previous.get(name)
            if old is None or old.shape[:-1] != arr.shape[:-1]:
                continue
            m = old.shape[-1]
            lo = max(0, m - self.window)
            if m > arr.shape[-1] or not _same(old[..., lo:m], arr[..., lo:m]):
                self.flagged.add(name)
                log.warning(
                    "Strategy %s: indicator '%s' changed values of bars already seen when a "
                    "new bar arrived: it looks ahead (centred window, bfill, whole-series "
                    "statistic), so live decisions can differ from the backtest's.",
                    self.strategy_name,
                    _display(name),
                )
        self._previous = current


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
