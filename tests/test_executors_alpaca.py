"""A broker that reports its own fills (Alpaca, here its fake through alpaca-py) with the runners
in worker processes: the replay writes the inline run's ledger, and a worker SIGKILLed mid-run
is rebuilt from the ledger with its real fills, nothing lost or doubled.

Three symbols; two strategies that net on every symbol (long 10 / short 7: one order, its
fill split over two books, possibly in two workers), a fraction-sized one that turns from
long to short (its quantity is sized from the book's buying power, read from the worker) and one with brackets (a fill
applied in the worker creates the SL/TP orders that go out next).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("stratequeue_alpaca")
from stratequeue.ledger.decisions import DECISIONS, decisions  # noqa: E402
from stratequeue.portfolio.config import StrategySpec  # noqa: E402
from stratequeue.testing.app_thread import AppThread  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402
from stratequeue_alpaca.testing.replay import fake_replay_source, replay_config  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402
from .test_replay_alpaca_parity import synthetic  # noqa: E402

STRATEGIES = Path(__file__).parent / "strategies"
SYMBOLS = ["S0", "S1", "S2"]
BARS = 200
#: the decision tables but the bars (the same CSV files); the fake's execution ids are random
TABLES = {t: c for t, c in DECISIONS.items() if t != "bars"}
SPECS = [
    StrategySpec(STRATEGIES / "sma_units.py", "long10", 0.25),
    StrategySpec(STRATEGIES / "sma_units_mirror.py", "short7", 0.25),
    StrategySpec(EXAMPLES / "strategies" / "sma.py", "frac", 0.25),
    StrategySpec(STRATEGIES / "units_bracket.py", "bracket", 0.25),
]


def dump(db: Path) -> dict[str, list[tuple]]:
    return decisions(db, TABLES, leave_out=["execution_id", "fill_id"])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bars")
    for k, symbol in enumerate(SYMBOLS):
        synthetic(BARS, seed=21 + k).to_csv(folder / f"{symbol}.csv")
    return folder


def replay(data: Path, db: Path, executor: str, during: Any = None) -> tuple[list[str], Any]:
    """The replay against a fresh fake; ``during(run)`` runs on this thread while it runs."""
    with FakeAlpaca(fill_mode="on_bar", cash=100_000.0) as fake, fake_replay_source():
        config = replay_config(
            fake, data, SPECS, symbol=SYMBOLS, db=db, lookback=60,
            executor=executor, workers=2,
        )  # fmt: skip
        run = AppThread(config).start()
        with run.app as app:
            result = during(run) if during is not None else None
            run.join(timeout=600)
            with fake.exchange.lock:
                account = {s: float(p.qty) for s, p in fake.exchange.positions.items()}
            books: dict[str, float] = {}
            for sleeve in app.portfolio.all_sleeves():
                books[sleeve.symbol] = books.get(sleeve.symbol, 0.0) + sleeve.runner.position_size
            assert {s: q for s, q in account.items() if q} == {s: q for s, q in books.items() if q}
    return run.notes, result


@pytest.fixture(scope="module")
def inline(data, tmp_path_factory) -> dict[str, list[tuple]]:
    db = tmp_path_factory.mktemp("inline") / "ledger.sqlite"
    replay(data, db, "inline")
    return dump(db)


def test_real_fills_in_workers_write_the_inline_ledger(data, inline, tmp_path):
    assert len(inline["fills"]) > 40 and len({r[0] for r in inline["fill_allocations"]}) == 4
    netted = [r for r in inline["order_legs"] if r[1] == "short7"]
    assert netted and {r[0] for r in netted} & {
        r[0] for r in inline["order_legs"] if r[1] == "long10"
    }
    db = tmp_path / "process.sqlite"
    replay(data, db, "process")
    got = dump(db)
    for table in TABLES:
        assert got[table] == inline[table], table


def test_a_killed_worker_comes_back_with_its_real_fills(data, inline, tmp_path):
    def kill(run: AppThread) -> tuple[int, int]:
        return run.kill_a_worker(after_bars=200)

    db = tmp_path / "killed.sqlite"
    notes, (victim, killed_at) = replay(data, db, "process", kill)
    with pytest.raises(ProcessLookupError):  # the kill landed: that process is gone
        os.kill(victim, 0)
    assert killed_at < len(SYMBOLS) * (BARS - 60), "killed after the last bar"
    lost = [n for n in notes if "was lost" in n]
    assert len(lost) == 1 and f"pid {victim}" in lost[0] and "SIGKILL" in lost[0], notes
    got = dump(db)
    for table in TABLES:
        assert got[table] == inline[table], table
