"""Shared helpers for the engine tests: data sets and the parity check."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.test import BTCUSD, EURUSD, GOOG  # noqa: E402
from stratequeue.engine import BacktestOptions, BarStep, StrategyRunner  # noqa: E402
from stratequeue.models import Bar  # noqa: E402


def synthetic(n: int = 1200, seed: int = 1, tz: str | None = None, freq: str = "h") -> pd.DataFrame:
    """A seeded random walk with sound OHLC bars."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]] * (1 + rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    index = pd.date_range("2021-03-01", periods=n, freq=freq, tz=tz)
    return pd.DataFrame(
        {
            "Open": open_,
            "High": high,
            "Low": low,
            "Close": close,
            "Volume": rng.integers(1, 1000, n),
        },
        index=index,
    )


DATASETS: dict[str, pd.DataFrame] = {
    "GOOG": GOOG,
    "EURUSD": EURUSD.iloc[:2500],
    "EURUSD_1K": EURUSD.iloc[:1000],
    "BTCUSD": BTCUSD,
    "SYN": synthetic(),
    "SYN_TZ": synthetic(900, seed=5, tz="America/New_York", freq="30min"),
}


def bars(frame: pd.DataFrame, symbol: str = "X") -> Iterator[Bar]:
    index = frame.index if frame.index.tz is not None else frame.index.tz_localize("UTC")
    for ts, row in zip(index, frame.itertuples(index=False), strict=True):
        yield Bar(symbol, ts.to_pydatetime(), row.Open, row.High, row.Low, row.Close, row.Volume)


def reference(
    df: pd.DataFrame, cls: type[Strategy], options: BacktestOptions, params: dict[str, Any]
) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(df, cls, finalize_trades=False, **options.kwargs()).run(**params)


def book_signature(broker_like: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    trades = [(t.size, t.entry_bar, t.entry_price, t.sl, t.tp, t.tag) for t in broker_like.trades]
    orders = [
        (o.size, o.limit, o.stop, o.sl, o.tp, o.tag, o.is_contingent) for o in broker_like.orders
    ]
    return trades, orders


def run_live(
    df: pd.DataFrame,
    cls: type[Strategy],
    options: BacktestOptions = BacktestOptions(),  # noqa: B008
    params: dict[str, Any] | None = None,
    warm: int = 0,
    replay: bool = False,
) -> tuple[StrategyRunner, list[BarStep]]:
    runner = StrategyRunner(cls, strategy_id="t", symbol="X", options=options, params=params)
    runner.warm_start(df.iloc[:warm], replay=replay)
    steps = [runner.on_bar(bar) for bar in bars(df.iloc[warm:])]
    return runner, steps


def assert_parity(runner: StrategyRunner, ref: Any) -> None:
    """Trades table, equity curve, open trades and pending orders equal the backtest's."""
    pd.testing.assert_frame_equal(runner.trades_frame(), ref._trades, check_exact=True)
    theirs = ref._strategy._broker
    assert np.array_equal(runner.equity_curve(), theirs._equity, equal_nan=True)
    assert book_signature(runner._broker) == book_signature(theirs)
    assert runner.cash == theirs._cash
