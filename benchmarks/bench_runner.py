"""Cost per bar of StrateQueue's live runner against re-running Backtest over a window.

Run on demand (not part of the tests)::

    uv run python benchmarks/bench_runner.py [--bars 200] [--repeat 3]

For each history length N the runner is warm-started on N bars of a seeded random walk, then
``on_bar`` is timed over ``--bars`` further bars; the median is reported. The baseline is
what StrateQueue 0.5.1 did every bar: ``Backtest(last 1000 bars).run()``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402
from backtesting.test import SMA  # noqa: E402
from stratequeue.engine import StrategyRunner  # noqa: E402
from stratequeue.models import Bar  # noqa: E402

log = logging.getLogger("bench_runner")

HISTORIES = (200, 1_000, 10_000, 50_000)
WINDOW = 1_000


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self) -> None:
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


def random_walk(n: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    index = pd.date_range("2020-01-01", periods=n, freq="min", tz="UTC")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1.0}, index=index
    )


def to_bars(frame: pd.DataFrame) -> list[Bar]:
    return [
        Bar("BENCH", ts.to_pydatetime(), r.Open, r.High, r.Low, r.Close, r.Volume)
        for ts, r in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]


def runner_cost(frame: pd.DataFrame, history: int, bars: int) -> float:
    """Median seconds per ``on_bar`` after a warm start on ``history`` bars."""
    runner = StrategyRunner(SmaCross, strategy_id="bench", symbol="BENCH")
    runner.warm_start(frame.iloc[:history])
    times = []
    for bar in to_bars(frame.iloc[history : history + bars]):
        t0 = time.perf_counter()
        runner.on_bar(bar)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def init_floor(frame: pd.DataFrame, history: int, bars: int) -> float:
    """Median seconds of the strategy's own ``init()`` on ``history`` bars: the part of a
    live bar that is the user's indicator code, not the runner's."""
    from backtesting._util import _Data

    times = []
    for end in range(history, history + min(bars, 100)):
        data = _Data(frame.iloc[:end])
        strategy = SmaCross(None, data, {})
        t0 = time.perf_counter()
        strategy.init()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def window_cost(frame: pd.DataFrame, bars: int) -> float:
    """Median seconds per bar of ``Backtest(last WINDOW bars).run()`` (StrateQueue 0.5.1)."""
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for end in range(WINDOW, WINDOW + bars):
            t0 = time.perf_counter()
            Backtest(frame.iloc[end - WINDOW : end], SmaCross, finalize_trades=False).run()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200, help="bars timed per history length")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best median)")
    parser.add_argument("--window-bars", type=int, default=100, help="bars timed for the baseline")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    frame = random_walk(max(HISTORIES) + args.bars + 1)
    baseline = min(window_cost(frame, args.window_bars) for _ in range(args.repeat))
    rows = []
    for history in HISTORIES:
        cost = min(runner_cost(frame, history, args.bars) for _ in range(args.repeat))
        floor = min(init_floor(frame, history, args.bars) for _ in range(args.repeat))
        rows.append((history, cost, floor))
    lines = [
        f"| history (bars) | runner ms/bar (median) | of which the strategy's init() | "
        f"Backtest re-run over {WINDOW} bars, ms/bar | ratio |",
        "|---:|---:|---:|---:|---:|",
    ]
    for history, cost, floor in rows:
        lines.append(
            f"| {history:,} | {cost * 1e3:.3f} | {floor * 1e3:.3f} | {baseline * 1e3:.2f} "
            f"| {baseline / cost:.0f}x |"
        )
    log.info("\n".join(lines))


if __name__ == "__main__":
    main()
