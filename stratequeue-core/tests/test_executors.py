"""Executors: the same replay, runners stepped in this process, in worker processes or in Ray
actors, writes the same ledger; a worker killed mid-run is rebuilt from the ledger and the run
ends as if nothing happened (no fill doubled or lost)."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from backtesting.test import GOOG
from stratequeue.app import RunConfig
from stratequeue.app.moments import moments
from stratequeue.cli import main
from stratequeue.cli.scale_options import read_symbols
from stratequeue.errors import UsageError
from stratequeue.ledger.decisions import DECISIONS, decisions
from stratequeue.models import Bar
from stratequeue.portfolio.config import parse_strategies_file
from stratequeue.testing.app_thread import AppThread
from test_replay_parity import FILES, synthetic

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
HAS_RAY = importlib.util.find_spec("ray") is not None
REMOTE = ["process", *(["ray"] if HAS_RAY else [])]

TABLES = DECISIONS


def universe(tmp_path: Path, symbols: int = 3, bars: int = 500) -> tuple[Path, Path]:
    """A folder of CSV files (one per symbol) and a strategies.txt of three strategies."""
    folder = tmp_path / "data"
    folder.mkdir()
    for k in range(symbols):
        synthetic(bars, seed=11 + k).to_csv(folder / f"S{k}.csv")
    config = tmp_path / "strategies.txt"
    config.write_text(
        f"{EXAMPLES / 'sma.py'},sma,0.3\n{EXAMPLES / 'momentum.py'},mom,0.3\n"
        f"{FILES / 'random_orders.py'},rnd,0.3\n"
    )
    return folder, config


def dump(db: Path) -> dict[str, list[tuple]]:
    return decisions(db)


def replay(tmp_path: Path, name: str, executor: str, *extra: str) -> Path:
    folder, config = (
        universe(tmp_path)
        if not (tmp_path / "data").exists()
        else (
            tmp_path / "data",
            tmp_path / "strategies.txt",
        )
    )
    db = tmp_path / f"{name}.sqlite"
    main(
        ["replay", "--strategies", str(config), "--data", str(folder), "--cash", "100000"]
        + ["--warmup", "60", "--commission", "0.001", "--db", str(db)]
        + ["--executor", executor, "--workers", "2", *extra]
    )
    return db


@pytest.fixture(scope="module")
def inline_ledger(tmp_path_factory) -> tuple[Path, dict[str, list[tuple]]]:
    tmp = tmp_path_factory.mktemp("inline")
    db = replay(tmp, "inline", "inline")
    return tmp, dump(db)


@pytest.mark.parametrize("executor", REMOTE)
def test_a_replay_writes_the_same_ledger_under_every_executor(inline_ledger, executor):
    tmp, expected = inline_ledger
    got = dump(replay(tmp, executor, executor))
    assert sum(len(rows) for rows in expected["trades"]) > 0
    assert len(expected["fills"]) > 50  # enough trading for a difference to show
    for table in TABLES:
        assert got[table] == expected[table], table


@pytest.fixture
def cluster(executor):
    """Ray: a local instance of two CPUs, as in CI (the executor joins it)."""
    if executor != "ray":
        yield
        return
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("executor", REMOTE)
def test_a_killed_worker_is_rebuilt_from_the_ledger_and_the_run_is_unchanged(
    inline_ledger, tmp_path, executor, cluster
):
    tmp, expected = inline_ledger
    specs = parse_strategies_file(tmp / "strategies.txt")
    db = tmp_path / "killed.sqlite"
    config = RunConfig(
        strategies=specs,
        symbols=["S0", "S1", "S2"],
        data_source="csv",
        granularity="1d",
        mode="paper",
        broker="paper",
        lookback=60,
        db=db,
        cash=100_000.0,
        backtest_options={"commission": 0.001},
        data_options={"path": str(tmp / "data")},
        replay=True,
        executor=executor,
        workers=2,
    )
    run = AppThread(config).start()
    app, notes = run.app, run.notes
    victim, killed_at = run.kill_a_worker(after_bars=300)
    workers = app.portfolio.executor
    run.join(timeout=300)
    app.close()
    with pytest.raises(ProcessLookupError):  # the kill landed: that process is gone
        os.kill(victim, 0)
    assert killed_at < 3 * (500 - 60), "killed after the last bar"
    lost = [n for n in notes if "was lost" in n]
    assert len(lost) == 1 and f"pid {victim}" in lost[0], notes
    assert ("SIGKILL" if executor == "process" else "actor died") in lost[0], lost
    assert workers.restarts == 1
    got = dump(db)
    for table in TABLES:
        assert got[table] == expected[table], table


def test_moments_group_one_bar_per_symbol_of_one_time():
    t0, t1 = pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC")

    def bar(symbol: str, t: pd.Timestamp) -> Bar:
        return Bar(symbol, t.to_pydatetime(), 1, 1, 1, 1, 1)

    bars = [bar("A", t0), bar("B", t0), bar("A", t0), bar("A", t1), bar("B", t1)]
    groups = [[(b.symbol, b.timestamp) for b in g] for g in moments(iter(bars))]
    assert groups == [
        [("A", t0), ("B", t0)],
        [("A", t0)],
        [("A", t1), ("B", t1)],
    ]
    # a moment of every symbol is given before the next bar is read: a source that drives a
    # broker (the fake Alpaca's replay) must not move it on before this moment's orders
    read: list[str] = []

    def feed():
        for b in bars[3:]:
            read.append(b.symbol)
            yield b

    first = next(moments(feed(), expected=2))
    assert [b.symbol for b in first] == ["A", "B"] and read == ["A", "B"]


def test_symbols_from_a_file(tmp_path):
    listing = tmp_path / "sp.txt"
    listing.write_text("# my universe\naapl\nMSFT, goog\n\naapl  # again\n")
    assert read_symbols(f"@{listing}") == ["AAPL", "MSFT", "GOOG"]
    assert read_symbols("a,b") == ["A", "B"]
    with pytest.raises(UsageError, match="cannot read"):
        read_symbols(f"@{tmp_path / 'missing.txt'}")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(UsageError, match="lists no symbol"):
        read_symbols(f"@{tmp_path / 'empty.txt'}")


def test_replay_of_a_folder_refuses_a_symbol_flag_and_an_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    GOOG.to_csv(tmp_path / "GOOG.csv")
    strategy = str(EXAMPLES / "sma.py")
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--strategy", strategy, "--data", str(tmp_path / "empty")])
    assert exit_info.value.code == 2
    assert "No .csv file in" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--strategy", strategy, "--data", str(tmp_path), "--symbol", "X"])
    assert exit_info.value.code == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("executor", REMOTE)
def test_risk_refusals_change_the_books_in_the_workers_as_inline(tmp_path, executor):
    """A refused order leaves its book (engine.flatten.drop_order), here in the worker."""
    limits = ["--max-order-value", "2500"]
    expected = dump(replay(tmp_path, "inline", "inline", *limits))
    with sqlite3.connect(tmp_path / "inline.sqlite") as con:
        refused = con.execute("SELECT COUNT(*) FROM sleeve_events WHERE kind='refuse'").fetchone()
    assert refused[0] > 5  # the limit bites
    got = dump(replay(tmp_path, executor, executor, *limits))
    for table in TABLES:
        assert got[table] == expected[table], table


def test_auto_picks_processes_above_the_threshold_and_says_so_once():
    from stratequeue.executors import AUTO_PROCESS_ABOVE, InlineExecutor, create_executor
    from stratequeue.executors.process import ProcessExecutor

    said: list[str] = []
    few = create_executor("auto", AUTO_PROCESS_ABOVE, say=said.append)
    assert isinstance(few, InlineExecutor) and said == []
    many = create_executor("auto", AUTO_PROCESS_ABOVE + 1, say=said.append)
    assert isinstance(many, ProcessExecutor)
    assert len(said) == 1 and "--executor inline" in said[0]
    with pytest.raises(UsageError, match="Unknown executor 'threads'"):
        create_executor("threads", 10)


def test_a_worker_gets_only_the_runs_strategy_files(tmp_path):
    """Strategy files an earlier run loaded in this process (one importing a module that
    exists only here) are not shipped: a worker executing them would die before its first
    bar."""
    from types import SimpleNamespace

    from stratequeue.engine import load_strategy
    from stratequeue.executors.shipping import strategy_sources

    other = tmp_path / "other.py"
    other.write_text(
        "import sys\nsys.modules['only_in_this_process'] = sys\nimport only_in_this_process\n"
        "from backtesting import Strategy\n\n\nclass Other(Strategy):\n"
        "    def init(self):\n        pass\n\n    def next(self):\n        pass\n"
    )
    earlier = load_strategy(other)
    mine = load_strategy(EXAMPLES / "sma.py")
    sleeve = SimpleNamespace(runner=SimpleNamespace(strategy_cls=mine.cls))
    shipped = strategy_sources([sleeve])
    assert list(shipped) == [mine.cls.__module__]
    assert earlier.cls.__module__ not in shipped
