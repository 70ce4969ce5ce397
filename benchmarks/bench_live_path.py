"""Cost per bar of the whole live path (``stratequeue replay``) against the runner alone.

Run on demand (not part of the tests)::

    uv run python benchmarks/bench_live_path.py [--bars 1000] [--repeat 5] [--sleeves 1]

For each history length N a seeded random walk of N + ``--bars`` rows is written to a CSV
file. The live path is what ``stratequeue replay`` runs: an :class:`App` with the CSV
source, the paper broker, the ledger and the paper account in a temporary file, and the
rotated log file as the CLI sets it up (not ``--verbose``). It warms up on N bars, then
``run()`` is timed over the ``--bars`` further bars. The runner alone is the ``engine``
runner warm-started on the same N bars, its ``on_bar`` timed over the same further bars, once
per sleeve. Each figure is the median of ``--repeat`` runs of (total time / bars), where
time is this process's CPU time (user + system): the machine these figures come from is
shared, and other jobs' load inflates wall time far more than it inflates the work done here
(SQLite's writes are system time, so the ledger's commits are counted).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import pandas as pd  # noqa: E402
from bench_runner import random_walk, to_bars  # noqa: E402
from stratequeue import plugins  # noqa: E402
from stratequeue.app import App, RunConfig  # noqa: E402
from stratequeue.engine import BacktestOptions  # noqa: E402
from stratequeue.logs import LOG_FILE_NAME, configure_logging  # noqa: E402
from stratequeue.portfolio.config import StrategySpec  # noqa: E402

log = logging.getLogger("bench_live_path")

HISTORIES = (200, 1_000, 10_000)
SYMBOL = "BENCH"
CASH = 100_000.0  # RunConfig's default
STRATEGY = """\
from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
"""


def live_path_cost(workdir: Path, strategy: Path, csv: Path, history: int, sleeves: int) -> float:
    """CPU seconds per bar of ``App.run()`` over the bars after a warm-up on ``history``."""
    with tempfile.TemporaryDirectory(dir=workdir) as run_dir:
        db = Path(run_dir) / "ledger.sqlite"
        configure_logging(verbose=False, log_format="text", log_file=Path(run_dir) / LOG_FILE_NAME)
        config = RunConfig(
            strategies=[StrategySpec(strategy, f"sma{i}", 1.0 / sleeves) for i in range(sleeves)],
            symbols=[SYMBOL],
            data_source="csv",
            granularity="1d",
            broker="paper",
            lookback=history,
            db=db,
            data_options={"path": str(csv)},
            replay=True,
        )
        with App(config, None, show_events=False) as app:
            app.build()
            app.confirm()
            app.start()
            t0 = time.process_time()
            app.run()
            elapsed = time.process_time() - t0
            bars = app.bars_seen
        configure_logging(verbose=False, log_format="text", log_file=None)
    return elapsed / bars


def runner_cost(
    strategy: Path, frame: pd.DataFrame, history: int, bars: int, sleeves: int
) -> float:
    """CPU seconds per bar of ``sleeves`` runners' ``on_bar`` over the same bars, each built as
    the app builds it (the ``backtesting`` extractor, the sleeve's share of the cash)."""
    extractor = plugins.registry("signal_extractors").get("backtesting")()
    loaded = extractor.load(strategy)
    runners = []
    for i in range(sleeves):
        runner = extractor.runner(
            loaded,
            strategy_id=f"sma{i}",
            symbol=SYMBOL,
            options=BacktestOptions(cash=CASH / sleeves),
        )
        runner.warm_start(frame.iloc[:history])
        runners.append(runner)
    live = to_bars(frame.iloc[history : history + bars])
    t0 = time.process_time()
    for bar in live:
        for runner in runners:
            runner.on_bar(bar)
    return (time.process_time() - t0) / len(live)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000, help="bars timed after the warm-up")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median)")
    parser.add_argument("--sleeves", type=int, default=1, help="strategies on the one symbol")
    args = parser.parse_args()
    # the table only: the root logger is configure_logging's (DEBUG, into the log file)
    out = logging.StreamHandler()
    out.setLevel(logging.INFO)
    log.addHandler(out)
    log.propagate = False
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        strategy = workdir / "sma_cross.py"
        strategy.write_text(STRATEGY)
        for history in HISTORIES:
            frame = random_walk(history + args.bars)
            frame = frame.set_axis(frame.index.tz_localize(None).rename("Date"))
            csv = workdir / f"{SYMBOL}.csv"
            frame.to_csv(csv)
            path = statistics.median(
                live_path_cost(workdir, strategy, csv, history, args.sleeves)
                for _ in range(args.repeat)
            )
            runner = statistics.median(
                runner_cost(strategy, frame, history, args.bars, args.sleeves)
                for _ in range(args.repeat)
            )
            rows.append((history, path, runner))
    lines = [
        f"| history (bars) | replay path ms/bar | runner alone ms/bar | "
        f"difference ms/bar/sleeve ({args.sleeves} sleeve(s)) |",
        "|---:|---:|---:|---:|",
    ]
    for history, path, runner in rows:
        lines.append(
            f"| {history:,} | {path * 1e3:.3f} | {runner * 1e3:.3f} "
            f"| {(path - runner) / args.sleeves * 1e3:.3f} |"
        )
    log.info("\n".join(lines))


if __name__ == "__main__":
    main()
