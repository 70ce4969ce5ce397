"""A broker that reports its own fills, with runners in workers: each fill is applied to the
book in the worker that holds it, and a worker lost halfway through one fill's parts gets the
parts applied so far again after its rebuild (they are not in the ledger yet), never twice."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from stratequeue.engine import BacktestOptions, StrategyRunner, load_strategy
from stratequeue.engine.book import ref_of
from stratequeue.engine.flatten import drop_order
from stratequeue.executors.process import ProcessExecutor
from stratequeue.models import Bar

T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
BUYER = """
from backtesting import Strategy


class Buyer(Strategy):
    def init(self):
        self.k = 0

    def next(self):
        self.k += 1
        if self.k == 2:
            self.buy(size=10)
"""


def bars(n: int, symbol: str = "X") -> list[Bar]:
    return [Bar(symbol, T0 + timedelta(minutes=i), 100.0, 101.0, 99.0, 100.0) for i in range(n)]


@pytest.fixture
def buyer(tmp_path: Path):
    path = tmp_path / "buyer.py"
    path.write_text(BUYER)
    cls = load_strategy(path).cls

    def runner(strategy_id: str, symbol: str = "X") -> StrategyRunner:
        """A book with a market order of 10 waiting for the broker's fill (as the ledger has
        it: the fill is not recorded until every part of it was applied)."""
        made = StrategyRunner(
            cls, strategy_id=strategy_id, symbol=symbol, options=BacktestOptions(), fills="external"
        )
        for bar in bars(3, symbol):
            made.on_bar(bar)
        return made

    return runner


def test_a_worker_lost_inside_a_fill_gets_its_applied_parts_again(buyer):
    sleeves = [SimpleNamespace(strategy_id=s, symbol="X", runner=buyer(s)) for s in ("a", "b")]
    refs = [ref_of(s.runner.orders[0]) for s in sleeves]
    notes: list[str] = []
    executor = ProcessExecutor(1, respawn=lambda sid, symbol: buyer(sid), say=notes.append)
    try:
        executor.attach(sleeves)
        [victim] = executor.workers()
        with executor.journal():  # one fill netted over both books, both on the one worker
            sleeves[0].runner.apply_fill(refs[0], 10, 100.5)
            os.kill(victim, signal.SIGKILL)
            process = executor._workers[0].process  # type: ignore[attr-defined]
            process.join(timeout=30)  # the kill landed before the next part went out
            assert process.exitcode == -signal.SIGKILL
            sleeves[1].runner.apply_fill(refs[1], 10, 100.5)
        assert executor.restarts == 1 and "was lost" in notes[0]
        assert [s.runner.position_size for s in sleeves] == [10, 10]  # the views
        executor.detach()
    finally:
        executor.close()
    books = [s.runner for s in sleeves]  # the runners themselves, back from the worker
    assert [b.position_size for b in books] == [10, 10]  # a's part applied again, once
    assert [len(b.open_trades) for b in books] == [1, 1]
    assert all(b.orders == () for b in books)


def test_a_change_between_a_moments_step_and_its_booking_is_not_undone(buyer):
    """The moment is stepped ahead; a change to a book whose bar the portfolio has not reached
    yet (a kill switch, a refusal) is what the portfolio then sees, not the step's older view."""
    sleeves = [SimpleNamespace(strategy_id="s", symbol=x, runner=buyer("s", x)) for x in "XY"]
    executor = ProcessExecutor(1)
    try:
        executor.attach(sleeves)
        moment = [bars(4, "X")[3], bars(4, "Y")[3]]
        executor.prefetch(moment)
        executor.step(moment[0], sleeves[:1])
        later = sleeves[1].runner
        assert drop_order(later, ref_of(later.orders[0])) is True
        assert later.orders == ()
        executor.step(moment[1], sleeves[1:])
        assert later.orders == ()  # not the order the step's view still held
        executor.detach()
    finally:
        executor.close()
    assert sleeves[1].runner.orders == () and sleeves[0].runner.orders != ()
