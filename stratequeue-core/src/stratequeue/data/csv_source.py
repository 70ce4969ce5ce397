"""The ``csv`` data source: replays OHLCV files in backtesting.py's CSV shape.

A file has a date index column and ``Open, High, Low, Close[, Volume]`` columns (the shape of
``backtesting.test.GOOG``), and any further numeric columns, which reach the strategy as
``self.data.<name>`` as they would in ``Backtest``. Dates are kept as the file has them:
naive dates stay naive for the strategy (and are taken as UTC everywhere else), a UTC offset
stays. Option ``path`` is one file, a template with ``{symbol}``, or a folder holding one file
per symbol, named by it (``AAPL.csv``).
``history(symbol, n)`` returns the file's first ``n`` bars and ``stream()`` yields the rest as
fast as the consumer takes them, in time order across symbols.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import hookimpl
from ..errors import UsageError
from ..models import Bar, utc
from .base import BaseDataSource, DataSourceConfig

__all__ = ["CsvDataSource", "folder_symbols", "read_ohlcv", "register_data_sources"]

_COLUMNS = ("Open", "High", "Low", "Close")

log = logging.getLogger(__name__)


def read_ohlcv(path: str | Path) -> Any:
    """Read an OHLCV CSV into backtesting.py's DataFrame shape: a DatetimeIndex as the file
    has it (naive, or with its UTC offset; mixed offsets become UTC), OHLCV as floats, then
    the file's other numeric columns."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise UsageError(
            f"CSV file '{path}' not found. Give the path of an OHLCV file with --data."
        )
    try:
        frame = pd.read_csv(file, index_col=0)
    except Exception as exc:  # pandas raises many kinds
        raise UsageError(
            f"CSV file '{path}' could not be read ({exc}). Check that it is a CSV."
        ) from exc
    ohlcv = {c.lower(): c for c in (*_COLUMNS, "Volume")}
    frame.columns = [ohlcv.get(str(c).strip().lower(), str(c).strip()) for c in frame.columns]
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(
            f"CSV file '{path}' lacks column(s) {', '.join(missing)}. "
            "Expected a date column then Open, High, Low, Close and optionally Volume."
        )
    frame.index = _dates(frame.index, path)
    if "Volume" not in frame.columns:
        frame["Volume"] = math.nan
    base = [*_COLUMNS, "Volume"]
    extra = [c for c in frame.columns if c not in base]
    kept = [c for c in extra if frame[c].dtype.kind in "fiub"]
    if len(kept) < len(extra):
        log.warning(
            "CSV file '%s': column(s) %s are not numbers and are left out of self.data.",
            path,
            ", ".join(c for c in extra if c not in kept),
        )
    frame = frame[base + kept].astype(float)
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index()
    return frame


def _dates(index: Any, path: str | Path) -> Any:
    import pandas as pd

    if index.dtype.kind in "iuf":  # 0, 1, 2...: a row number, which pandas reads as epoch ns
        raise UsageError(
            f"CSV file '{path}': the first column holds numbers, not dates. A live bar has a "
            "time: give each row its date or time."
        )
    try:
        parsed = pd.to_datetime(index, format="mixed")
        if not isinstance(parsed, pd.DatetimeIndex):  # several UTC offsets: as UTC
            parsed = pd.to_datetime(index, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise UsageError(f"CSV file '{path}': the first column must hold dates ({exc}).") from exc
    return pd.DatetimeIndex(parsed, name="Date")


def folder_symbols(folder: str | Path) -> dict[str, Path]:
    """A folder of CSV files, one per symbol: symbol (the file name, upper-cased) -> file."""
    files = sorted(Path(folder).glob("*.csv"))
    found: dict[str, Path] = {}
    for file in files:
        symbol = file.stem.upper()
        if symbol in found:
            raise UsageError(
                f"{found[symbol].name} and {file.name} in {folder} are both symbol {symbol}: "
                "keep one file per symbol."
            )
        found[symbol] = file
    if not found:
        raise UsageError(f"No .csv file in {folder}. Put one OHLCV file per symbol, SYMBOL.csv.")
    return found


class CsvDataSource(BaseDataSource):
    name = "csv"
    display_name = "CSV files"
    historical = True

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        path = config.options.get("path") or config.env.get("STRATEQUEUE_CSV")
        if not path:
            raise UsageError(
                "The csv data source needs a file: pass --data FILE.csv "
                "(or a template such as --data 'data/{symbol}.csv')."
            )
        self.path = str(path)
        self._folder = folder_symbols(self.path) if Path(self.path).is_dir() else None
        self._frames: dict[str, Any] = {}
        self._cursor: dict[str, int] = {}

    def frame(self, symbol: str) -> Any:
        if symbol not in self._frames:
            if self._folder is not None:
                if symbol not in self._folder:
                    raise UsageError(
                        f"No file for symbol {symbol} in {self.path}: add {symbol}.csv there."
                    )
                file = str(self._folder[symbol])
            else:
                file = self.path.format(symbol=symbol)
            self._frames[symbol] = read_ohlcv(file)
        return self._frames[symbol]

    def time_view(self, symbol: str) -> Any:
        """How a backtest over this file sees its dates (naive, or its offset)."""
        from ..engine.times import TimeView

        return TimeView.of(self.frame(symbol).index)

    def _bars(self, symbol: str, start: int, stop: int | None = None) -> list[Bar]:
        frame = self.frame(symbol).iloc[start:stop]
        names = list(frame.columns[5:])
        extras = (
            [tuple(zip(names, row, strict=True)) for row in frame[names].itertuples(False)]
            if names
            else [()] * len(frame)
        )
        return [
            Bar(symbol, utc(ts.to_pydatetime()), o, h, low, c, v, extra)
            for ts, o, h, low, c, v, extra in zip(
                frame.index,
                frame.Open,
                frame.High,
                frame.Low,
                frame.Close,
                frame.Volume,
                extras,
                strict=True,
            )
        ]

    def history(self, symbol: str, bars: int) -> list[Bar]:
        bars = max(0, min(bars, len(self.frame(symbol))))
        self._cursor[symbol] = bars
        return self._bars(symbol, 0, bars)

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        iters = [iter(self._bars(s, self._cursor.get(s, 0))) for s in symbols]
        merged = heapq.merge(*iters, key=lambda b: (b.timestamp, b.symbol))
        for bar in merged:
            if self.stopped:
                return
            self._cursor[bar.symbol] = self._cursor.get(bar.symbol, 0) + 1
            yield bar


@hookimpl
def register_data_sources(register):  # type: ignore[no-untyped-def]
    register("csv", CsvDataSource)
