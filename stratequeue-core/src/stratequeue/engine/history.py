"""Bounded history (``MAX_HISTORY``, ``--max-history N``): indicators from the last N bars.

Exact parity recomputes every indicator over the whole history at each bar, so a bar costs
more the longer a run lasts. With a bound, the shadow's ``init()`` runs on a window of the last
N bars (:class:`TailBuffer` behind a :class:`~.data.LiveData`); each indicator's newest value
comes from that window, and the values of earlier bars stay those the live instance already
had (as a backtest's causal indicator: a bar's value never changes once seen). The book, the
strategy instance and the data the strategy reads (``self.data``) keep the whole run.

The trade-off: an indicator's newest value is computed from N bars, not from all of them.
Windowed indicators (SMA, RSI over k bars with N much larger than k) give the same value,
up to the last bits of rolling sums; indicators with unbounded memory (EMA, cumulative sums)
drift from the backtest's. The look-ahead check needs the whole history, so it runs only
while the history is shorter than N.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from backtesting import Strategy

from .data import BarBuffer, LiveData
from .shadow import _data_arrays

__all__ = ["TailBuffer", "extend", "window"]


class TailBuffer:
    """The last ``keep`` rows of a :class:`BarBuffer`, read as a buffer (views, no copy)."""

    def __init__(self, buffer: BarBuffer, keep: int) -> None:
        self.buffer = buffer
        self.start = max(0, buffer.n - keep)
        self.n = buffer.n - self.start
        self.version = (buffer.version, self.start)
        self.index_dtype = buffer.index_dtype
        self.tz = buffer.tz
        self.columns = buffer.columns  # OHLCV and any further columns (a CSV's, prepare_data's)

    def column(self, name: str) -> np.ndarray:
        return self.buffer.column(name)[self.start :]

    def index(self) -> pd.DatetimeIndex:
        return self.buffer.index()[self.start :]

    def time(self, i: int) -> pd.Timestamp:
        return self.buffer.time(self.start + i)

    def utc_time(self, i: int) -> datetime:
        return self.buffer.utc_time(self.start + i)

    def frame(self, n: int | None = None) -> pd.DataFrame:
        full = self.buffer.frame(self.start + (self.n if n is None else n))
        return full.iloc[self.start :]


def window(data: LiveData, keep: int | None) -> LiveData:
    """``data`` itself, or a view of its last ``keep`` bars when it holds more."""
    buffer: BarBuffer = data._buffer
    if keep is None or buffer.n <= keep:
        return data
    return LiveData(TailBuffer(buffer, keep))  # type: ignore[arg-type]


def extend(shadow: Strategy, live: Strategy, keep: int, n: int) -> None:
    """Move a windowed shadow's indicators onto ``live``: the live arrays grow by the newest
    value; the values of earlier bars are the ones ``live`` already had."""
    live_dict = live.__dict__
    for name, value in _data_arrays(shadow, keep):
        old = live_dict.get(name)
        if not isinstance(value, np.ndarray) or not isinstance(old, np.ndarray):
            live_dict[name] = value
            continue
        grown = np.empty(value.shape[:-1] + (n,), dtype=np.result_type(old, value))
        grown[..., : n - 1] = old[..., -(n - 1) :] if old.shape[-1] >= n - 1 else np.nan
        grown[..., n - 1] = value[..., -1]
        grown = grown.view(type(value))
        grown.__dict__.update(getattr(value, "__dict__", {}))
        opts = getattr(grown, "_opts", None)
        if isinstance(opts, dict) and "index" in opts:  # ``.s`` / ``.df`` index the whole run
            grown._opts = {**opts, "index": live._data.index}  # type: ignore[attr-defined]
        live_dict[name] = grown
    live._indicators = [
        live_dict[k] for k, v in shadow.__dict__.items() if any(v is i for i in shadow._indicators)
    ] or live._indicators
