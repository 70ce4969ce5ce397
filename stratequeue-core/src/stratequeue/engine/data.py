"""Growable OHLCV buffers and the ``_Data`` view a backtesting.py strategy reads.

Backtest.run builds one ``_Data`` over the whole frame and reveals it bar by bar with
``_Data._set_length``. Live, the frame grows: :class:`BarBuffer` keeps each column in a numpy
buffer that doubles when full, and :class:`LiveData` is a ``_Data`` whose column arrays are
views of those buffers, so revealing one more bar costs O(1) instead of rebuilding a frame.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
from backtesting._util import _Array, _Data
from pandas.arrays import DatetimeArray

from ..errors import UsageError
from ..models import Bar
from .times import TimeView

__all__ = ["COLUMNS", "BarBuffer", "LiveData"]

COLUMNS = ("Open", "High", "Low", "Close", "Volume")
_NAT = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class BarBuffer:
    """Bar columns (OHLCV first, then any extra columns) in doubling numpy buffers, with the
    index as the strategy sees it (a :class:`~.times.TimeView`) and each bar's UTC time.

    Naive indexes hold wall times of ``view.zone`` (UTC for a CSV's naive dates): they may
    repeat at a DST change, so order is checked on the UTC times.
    """

    def __init__(
        self,
        dtypes: dict[str, np.dtype[Any]],
        index_dtype: np.dtype[Any] | pd.DatetimeTZDtype,
        index_name: str | None = None,
        capacity: int = 256,
        view: TimeView | None = None,
    ) -> None:
        self.dtypes = dtypes
        self.columns = (*COLUMNS, *(c for c in dtypes if c not in COLUMNS))
        self.index_dtype = index_dtype
        self.index_name = index_name
        self.tz = getattr(index_dtype, "tz", None)
        self.view = view if view is not None else TimeView(self.tz or UTC, self.tz is None)
        self.unit: str = np.datetime_data(
            np.dtype(f"M8[{index_dtype.unit}]")
            if isinstance(index_dtype, pd.DatetimeTZDtype)
            else index_dtype
        )[0]
        self.n = 0
        self.version = 0  # bumped on every reallocation: views must be rebuilt
        self._alloc(max(capacity, 16))

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, utc_ns: np.ndarray | None = None, view: TimeView | None = None
    ) -> BarBuffer:
        """A buffer holding ``frame`` (OHLC[V] and any other numeric columns, a DatetimeIndex
        as the strategy sees it). ``utc_ns``: each row's UTC time in nanoseconds (default:
        the index's, naive dates taken as UTC); ``view``: how later bars are shown (default:
        as the index, naive as UTC wall times)."""
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise UsageError(
                "History must have a DatetimeIndex (got "
                f"{type(frame.index).__name__}); set the bar times as the index."
            )
        missing = [c for c in COLUMNS[:4] if c not in frame.columns]
        if missing:
            raise UsageError(
                f"History lacks the columns {missing}; it needs Open, High, Low, Close."
            )
        dtypes: dict[str, Any] = {
            c: (frame[c].dtype if c in frame.columns else np.dtype("float64")) for c in COLUMNS
        }
        dtypes.update({str(c): frame[c].dtype for c in frame.columns if c not in COLUMNS})
        buf = cls(
            dtypes,
            frame.index.dtype,
            cast(str | None, frame.index.name),
            capacity=2 * len(frame) + 64,
            view=view,
        )
        n = len(frame)
        for c in buf.columns:
            if c in frame.columns:
                buf._cols[c][:n] = frame[c].to_numpy()
        buf._times[:n] = frame.index.asi8
        buf._utc[:n] = utc_ns if utc_ns is not None else utc_nanos(frame.index)
        buf.n = n
        return buf

    _cols: dict[str, np.ndarray]
    _times: np.ndarray
    _utc: np.ndarray

    def _alloc(self, capacity: int) -> None:
        cols = {}
        for c, dt in self.dtypes.items():
            fill = np.nan if np.issubdtype(dt, np.floating) else 0
            arr = np.full(capacity, fill, dtype=dt)
            if hasattr(self, "_cols"):
                arr[: self.n] = self._cols[c][: self.n]
            cols[c] = arr
        times = np.full(capacity, _NAT, dtype=np.int64)
        utc_ns = np.full(capacity, _NAT, dtype=np.int64)
        if hasattr(self, "_times"):
            times[: self.n] = self._times[: self.n]
            utc_ns[: self.n] = self._utc[: self.n]
        self._cols, self._times, self._utc = cols, times, utc_ns
        self._arrays = [cols[c] for c in COLUMNS]
        self._is_float = [cols[c].dtype.kind == "f" for c in COLUMNS]
        self._extra = [(c, cols[c], cols[c].dtype.kind == "f") for c in self.columns[5:]]
        self.capacity = capacity
        self.version += 1

    def _value(self, ts: datetime, scale: int) -> int:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        delta = ts - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        nanos = getattr(ts, "nanosecond", 0)
        return (micros * 1_000 + nanos) // scale

    def timestamp_value(self, ts: datetime) -> int:
        """``ts`` (aware; naive is UTC) as this index's int64 in the index's unit: the epoch
        time for an aware index, the wall time in ``view.zone`` for a naive one."""
        if self.tz is None and self.view.zone is not UTC:
            ts = self.view.wall(ts).replace(tzinfo=UTC)
        return self._value(ts, _UNIT_NS[self.unit])

    def append(self, bar: Bar) -> None:
        """Add one closed bar; its time must be later than the last one."""
        utc_ns = self._value(bar.timestamp, 1)
        if self.n and utc_ns <= self._utc[self.n - 1]:
            raise UsageError(
                f"Bar {bar.timestamp} is not after the last bar {self.utc_time(self.n - 1)}: "
                "feed closed bars in time order, once each."
            )
        self.append_raw(
            self.timestamp_value(bar.timestamp),
            (bar.open, bar.high, bar.low, bar.close, bar.volume),
            utc_ns,
            bar.extra,
        )

    def append_raw(
        self,
        time_value: int,
        values: tuple[Any, ...],
        utc_ns: int | None = None,
        extra: Any = (),
    ) -> None:
        """Add one row given as the index's int64, the five OHLCV values, its UTC time in
        nanoseconds (default: ``time_value`` read as UTC) and extra ``(column, value)`` pairs
        (a column the buffer lacks is ignored, one it has and the row lacks is NaN)."""
        if self.n == self.capacity:
            self._alloc(2 * self.capacity)
        i = self.n
        self._times[i] = time_value
        self._utc[i] = time_value * _UNIT_NS[self.unit] if utc_ns is None else utc_ns
        for arr, is_float, v in zip(self._arrays, self._is_float, values, strict=True):
            arr[i] = v if is_float or v == v else 0  # NaN volume in an integer column: 0
        if self._extra:
            given = dict(extra)
            for name, arr, is_float in self._extra:
                v = given.get(name, np.nan)
                arr[i] = v if is_float or v == v else 0
        self.n += 1

    def empty_like(self) -> BarBuffer:
        """A buffer with this one's dtypes and no rows."""
        return BarBuffer(
            self.dtypes, self.index_dtype, self.index_name, self.capacity, view=self.view
        )

    def column(self, name: str) -> np.ndarray:
        """The whole buffer of column ``name`` (only the first ``n`` rows are data)."""
        return self._cols[name]

    def index(self) -> pd.DatetimeIndex:
        """A DatetimeIndex viewing the whole time buffer (NaT after the first ``n`` rows)."""
        m8 = self._times.view(f"M8[{self.unit}]")
        dtype = self.index_dtype if self.tz is not None else m8.dtype
        array = DatetimeArray._simple_new(m8, dtype=dtype)  # type: ignore[attr-defined]
        return pd.DatetimeIndex._simple_new(array, name=self.index_name)  # type: ignore[attr-defined]

    def time(self, i: int) -> pd.Timestamp:
        """Bar ``i``'s time as the strategy sees it."""
        return self.index()[i]

    def utc_time(self, i: int) -> datetime:
        """Bar ``i``'s time, aware UTC (what leaves the engine)."""
        return pd.Timestamp(int(self._utc[i]), tz=UTC).to_pydatetime()

    def frame(self, n: int | None = None) -> pd.DataFrame:
        """A copy of the first ``n`` rows as backtesting's frame (every column, DatetimeIndex)."""
        n = self.n if n is None else n
        index = self.index()[:n].copy()
        return pd.DataFrame({c: self._cols[c][:n].copy() for c in self.columns}, index=index)


def utc_nanos(index: pd.DatetimeIndex) -> np.ndarray:
    """Each time of ``index`` as UTC nanoseconds (naive times are UTC)."""
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


class LiveData(_Data):
    """A ``_Data`` over a :class:`BarBuffer`: same arrays, slicing and ``_current_value``.

    ``_Data.__init__`` is bypassed: it would copy a DataFrame; here the column arrays are
    views of the growable buffers and are rebuilt only when the buffers reallocate.
    """

    def __init__(self, buffer: BarBuffer) -> None:  # noqa: D107 - see class docstring
        self._buffer = buffer
        self._version = -1
        self._df_cache: tuple[int, pd.DataFrame] | None = None
        self._Data__pip: float | None = None
        self._Data__cache: dict[str, Any] = {}
        self._Data__len = buffer.n
        self._Data__df = None
        self._refresh()

    def _refresh(self) -> None:
        buf = self._buffer
        if buf.version == self._version:
            return
        index = buf.index()
        arrays: dict[str, Any] = {
            c: _Array(buf.column(c), name=c, index=index) for c in buf.columns
        }
        arrays["__index"] = index
        self._Data__arrays = arrays
        self._Data__cache.clear()
        self._version = buf.version

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled (a runner shipped to a worker process): the column arrays came as copies,
        so they are made views of the buffers again."""
        self.__dict__.update(state)
        self._version = -1
        self._refresh()

    def _advance(self) -> None:
        """Reveal every bar the buffer holds (after ``BarBuffer.append``)."""
        self._refresh()
        self._set_length(self._buffer.n)

    def _update(self) -> None:
        """After ``init()``: columns the strategy added to ``self.data.df`` become columns of
        the data, as ``Backtest.run``'s ``data._update()`` makes them (recomputed every bar:
        each bar's ``init()`` adds them to that bar's frame)."""
        self._refresh()
        cache = self._df_cache
        if cache is None or cache[0] != len(self):
            return
        added = [c for c in cache[1].columns if c not in self._buffer.columns]
        arrays = self._Data__arrays
        for name in added:
            arrays[name] = _Array(np.asarray(cache[1][name]), name=name, index=arrays["__index"])
            self._Data__cache.pop(name, None)

    def install(self, frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
        """Make ``frame`` (the bars so far with columns added, e.g. by ``prepare_data``) this
        bar's ``self.data.df``; returns the added columns."""
        self._df_cache = (len(self), frame)
        self._update()
        return [
            (str(c), np.asarray(frame[c])) for c in frame.columns if c not in self._buffer.columns
        ]

    @property
    def df(self) -> pd.DataFrame:
        n = len(self)
        if self._df_cache is None or self._df_cache[0] != n:
            self._df_cache = (n, self._buffer.frame(n))
        return self._df_cache[1]

    @property
    def pip(self) -> float:
        pip = self._Data__pip
        if pip is None:
            close = self._buffer.column("Close")[: len(self)]
            pip = float(10 ** -np.median([len(s.partition(".")[-1]) for s in close.astype(str)]))
            self._Data__pip = pip
        return pip

    def __repr__(self) -> str:
        i = len(self) - 1
        return f"<LiveData i={i} ({self._buffer.time(i) if i >= 0 else '-'})>"
