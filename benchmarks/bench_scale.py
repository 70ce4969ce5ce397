"""Wall time per bar for N runners (4 strategies x N/4 symbols) under each executor.

Run on demand (not part of the tests)::

    uv run python benchmarks/bench_scale.py [--runners 100,500,2000] [--executors inline,process,ray]
                                            [--history 1000] [--bars 50] [--settle 10]
                                            [--max-history N] [--pieces N]

Each symbol gets a seeded random walk of ``--history`` + ``--settle`` + ``--bars`` daily bars in
a CSV file (a folder, as ``replay --data DIR`` reads). The run is what ``stratequeue replay``
runs: an :class:`App` with the CSV source, the paper broker, the ledger in a temporary file,
four strategies (10/20 SMA crossover, momentum, mean reversion, 5/50 SMA crossover) on every
symbol, warmed up on ``--history`` bars. For each moment (the bars of one time, one per symbol)
the engine's wall time is recorded: every runner's step, the portfolio, the ledger and the
paper broker. The figure is the median over ``--bars`` moments after ``--settle`` moments.
Peak memory is the largest sum of resident memory of this process and its workers, sampled at
each moment (Ray's own daemons are not counted). Figures are wall time: the machine is shared,
so also note its load (printed).
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import stratequeue.app.application as application  # noqa: E402
from stratequeue.app import App, RunConfig  # noqa: E402
from stratequeue.app.moments import EngineBudget  # noqa: E402
from stratequeue.portfolio.config import StrategySpec  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "strategies"
SLOW_SMA = """\
from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA


class SlowCross(Strategy):
    def init(self):
        self.fast = self.I(SMA, self.data.Close, 5)
        self.slow = self.I(SMA, self.data.Close, 50)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(size=0.2)
        elif crossover(self.slow, self.fast):
            self.position.close()
"""


def write_universe(folder: Path, symbols: int, rows: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    index = pd.date_range("2000-01-03", periods=rows, freq="D", tz="UTC")
    names = []
    for k in range(symbols):
        rng = np.random.default_rng(1000 + k)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
        spread = np.abs(rng.normal(0, 0.004, rows)) * close
        frame = pd.DataFrame(
            {
                "Open": np.r_[close[0], close[:-1]],
                "High": close + spread,
                "Low": close - spread,
                "Close": close,
                "Volume": rng.integers(1_000, 100_000, rows).astype(float),
            },
            index=index,
        )
        frame["High"] = frame[["Open", "High", "Close"]].max(axis=1)
        frame["Low"] = frame[["Open", "Low", "Close"]].min(axis=1)
        name = f"S{k:04d}"
        frame.to_csv(folder / f"{name}.csv")
        names.append(name)
    return names


def rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (10 ms resolution)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class Recorder(EngineBudget):
    """The run's own per-moment engine time, kept; plus memory and CPU time at each moment.

    On a shared machine wall time includes waiting for a core. The CPU figure of a moment is
    this process's CPU time plus the busiest worker's: what the moment would take with a
    core free for each worker (this process waits while the workers step, and the workers
    wait while it writes the ledger)."""

    def __init__(self, app: App, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.app = app
        self.moments: list[float] = []
        self.cpu: list[float] = []
        self.main_cpu: list[float] = []
        self.peak = 0
        self._last: dict[int, float] = {}

    def add(self, seconds: float, runners: int) -> None:
        self.moments.append(seconds)
        executor = self.app.portfolio.executor
        workers = executor.workers() if executor is not None else []
        now = {p: cpu_seconds(p) for p in [os.getpid(), *workers]}
        spent = {p: now[p] - self._last.get(p, now[p]) for p in now}
        self._last = now
        own = spent.pop(os.getpid())
        self.main_cpu.append(own)
        self.cpu.append(own + max(spent.values(), default=0.0))
        self.peak = max(self.peak, sum(rss(p) for p in now))


def measure(tmp: Path, strategies: list[StrategySpec], symbols: list[str], args, executor: str):
    config = RunConfig(
        strategies=strategies,
        symbols=symbols,
        data_source="csv",
        granularity="1d",
        mode="paper",
        broker="paper",
        lookback=args.history,
        db=tmp / f"ledger-{executor}-{len(symbols)}.sqlite",
        cash=1_000_000.0,
        data_options={"path": str(tmp / f"data{len(symbols)}")},
        replay=True,
        executor=executor,
        workers=args.workers,
        max_history=args.max_history,
    )
    recorders: list[Recorder] = []
    started = time.perf_counter()
    with App(config, None) as app:
        app.build()
        app.confirm()
        app.start()
        built = time.perf_counter() - started

        def recorder_for(*a, **k) -> Recorder:
            recorders.append(Recorder(app, *a, **k))
            return recorders[-1]

        original = application.EngineBudget
        application.EngineBudget = recorder_for  # type: ignore[assignment,misc]
        try:
            app.run()
        finally:
            application.EngineBudget = original  # type: ignore[misc]
    recorder = recorders[-1]
    timed = recorder.moments[args.settle : args.settle + args.bars]
    cpu = recorder.cpu[args.settle : args.settle + args.bars]
    main_cpu = recorder.main_cpu[args.settle : args.settle + args.bars]
    return {
        "executor": executor,
        "runners": 4 * len(symbols),
        "median_s": statistics.median(timed),
        "p90_s": float(np.percentile(timed, 90)),
        "cpu_s": statistics.median(cpu),
        "main_cpu_s": statistics.median(main_cpu),
        "bars": len(timed),
        "build_s": built,
        "peak_gb": recorder.peak / 2**30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", default="100,500,2000")
    parser.add_argument("--executors", default="inline,process,ray")
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=50)
    parser.add_argument("--settle", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--max-history", type=int, default=None)
    parser.add_argument(
        "--pieces",
        type=int,
        default=None,
        help="pieces a moment is sent to the workers in (1: booking waits for the whole step)",
    )
    args = parser.parse_args()
    if args.pieces is not None:
        import stratequeue.executors.sharded as sharded

        sharded.PIECES = args.pieces
    # the books' own notes (a small sleeve's order canceled for insufficient margin) are the
    # strategies' business, not the benchmark's output
    logging.getLogger("stratequeue").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "slow_cross.py").write_text(SLOW_SMA)
        strategies = [
            StrategySpec(EXAMPLES / "sma.py", "sma", 0.25),
            StrategySpec(EXAMPLES / "momentum.py", "momentum", 0.25),
            StrategySpec(EXAMPLES / "mean_revert.py", "mean_revert", 0.25),
            StrategySpec(tmp / "slow_cross.py", "slow_cross", 0.25),
        ]
        print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
        print(
            "| runners | executor | median s/bar (wall) | p90 s/bar | median CPU s/bar "
            "(main + busiest worker) | of which main | build s | peak memory GB | load |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in (int(x) for x in args.runners.split(",")):
            symbols = write_universe(
                tmp / f"data{n // 4}", n // 4, args.history + args.settle + args.bars
            )
            for executor in args.executors.split(","):
                row = measure(tmp, strategies, symbols, args, executor)
                print(
                    f"| {row['runners']} | {executor} | {row['median_s']:.3f} | "
                    f"{row['p90_s']:.3f} | {row['cpu_s']:.3f} | {row['main_cpu_s']:.3f} | "
                    f"{row['build_s']:.0f} | "
                    f"{row['peak_gb']:.2f} | "
                    f"{os.getloadavg()[0]:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
