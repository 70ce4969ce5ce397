"""A live feed's bars of one time are gathered into one moment (stepped together, snapshot
once), within a window: a complete moment is given without reading ahead, a missing symbol
costs the window, a bar that ends a moment begins the next, and each bar keeps the time it
came. One symbol: each bar as it comes, as before gathering."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from stratequeue import hookimpl, plugins
from stratequeue.app import App, RunConfig
from stratequeue.app.live_feed import Arrived, gather_window, paced
from stratequeue.data.csv_source import CsvDataSource
from stratequeue.errors import UsageError
from stratequeue.models import Bar
from stratequeue.portfolio.config import StrategySpec

T0 = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
CROSS = Path(__file__).parent / "portfolio_files" / "cross_long.py"


def bar(symbol: str, minute: int) -> Bar:
    return Bar(symbol, T0 + timedelta(minutes=minute), 100.0, 101.0, 99.0, 100.0, 1e3)


class Counted:
    """Bars, counting how many were pulled (on the feed's thread)."""

    def __init__(self, bars: Sequence[Bar]) -> None:
        self.bars = list(bars)
        self.pulled = 0

    def __iter__(self) -> Iterator[Bar]:
        return self

    def __next__(self) -> Bar:
        if self.pulled == len(self.bars):
            raise StopIteration
        self.pulled += 1
        return self.bars[self.pulled - 1]


def names(item: Arrived | None) -> list[str]:
    assert isinstance(item, Arrived)
    return [f"{b.symbol}{(b.timestamp - T0) // timedelta(minutes=1)}" for b in item.bars]


def feed(
    bars: Any, expected: int, window: float, pending: threading.Event | None = None
) -> Iterator[Arrived | None]:
    return paced(
        bars, pending or threading.Event(), threading.Event(), expected=expected, window=window
    )


def test_bars_that_come_together_are_one_moment_given_without_reading_ahead():
    source = Counted([bar(s, m) for m in range(2) for s in "ABC"])
    items = feed(source, expected=3, window=30.0)  # complete moments never wait for it
    assert names(next(items)) == ["A0", "B0", "C0"]
    time.sleep(0.1)  # a read ahead would have happened by now
    assert source.pulled == 3
    assert names(next(items)) == ["A1", "B1", "C1"]
    assert source.pulled == 6
    assert list(items) == []


def test_one_symbol_gets_each_bar_as_it_comes_and_the_next_only_when_asked():
    source = Counted([bar("A", m) for m in range(3)])
    items = feed(source, expected=1, window=gather_window(None, 60.0))
    assert names(next(items)) == ["A0"]
    time.sleep(0.1)
    assert source.pulled == 1
    assert [names(item) for item in items] == [["A1"], ["A2"]]


def test_a_missing_symbol_costs_the_window_and_the_bar_that_ends_a_moment_begins_the_next():
    release, released = threading.Event(), []

    def bars() -> Iterator[Bar]:
        yield from (bar("A", 0), bar("B", 0), bar("A", 1), bar("B", 1))  # no C: illiquid
        # C1 never comes; minute 2 waits until the test has seen minute 1
        released.append(release.wait(5))
        yield from (bar("A", 2), bar("B", 2), bar("C", 2), bar("A", 3), bar("A", 3))
        yield bar("B", 3)

    items = feed(bars(), expected=3, window=0.05)
    assert names(next(items)) == ["A0", "B0"]  # ended by A1, another time
    assert names(next(items)) == ["A1", "B1"]  # the window passed: C1 is not waited for
    release.set()
    assert names(next(items)) == ["A2", "B2", "C2"]
    assert names(next(items)) == ["A3"]  # ended by a second A3
    assert [names(item) for item in items] == [["A3", "B3"]]
    assert released == [True]  # minute 1 came within the window, not when minute 2 did


def test_each_bar_keeps_the_time_it_came_not_its_moments():
    produced: list[datetime] = []

    def bars() -> Iterator[Bar]:
        for symbol in "AB":
            time.sleep(0.02)
            produced.append(datetime.now(UTC))
            yield bar(symbol, 0)

    item = next(feed(bars(), expected=2, window=5.0))
    assert isinstance(item, Arrived) and len(item.received) == 2
    assert produced[0] <= item.received[0] < produced[1] <= item.received[1]


def test_pending_controls_wake_the_run_between_moments_not_within_one():
    pending, release = threading.Event(), threading.Event()
    pending.set()

    def bars() -> Iterator[Bar]:
        yield bar("A", 0)
        time.sleep(0.4)  # longer than the feed's waits between looks at pending
        yield bar("B", 0)
        release.wait(10)
        yield bar("A", 1)

    items = feed(bars(), expected=2, window=5.0, pending=pending)
    assert names(next(items)) == ["A0", "B0"]  # gathered, not cut short by pending
    assert next(items) is None  # no bar comes: the controls' turn
    release.set()
    assert names(next(item for item in items if item is not None)) == ["A1"]


def test_a_source_error_comes_on_the_run_thread_after_the_bars_before_it():
    def bars() -> Iterator[Bar]:
        yield bar("A", 0)
        raise ConnectionError("the feed dropped")

    items = feed(bars(), expected=2, window=5.0)
    assert names(next(items)) == ["A0"]
    with pytest.raises(ConnectionError, match="the feed dropped"):
        next(items)


def test_the_default_window_is_a_twentieth_of_the_interval_at_most_a_second():
    assert gather_window(None, 60.0) == 1.0
    assert gather_window(None, 1.0) == pytest.approx(0.05)
    assert gather_window(0.2, 60.0) == 0.2


# -- end to end: a live App over three symbols --------------------------------------------------
class Watched(CsvDataSource):
    """CSV files, declared live; before each bar, counts the bars the ledger file holds (what
    a restarted process would find)."""

    name = "csv-watched"
    historical = False
    durable: list[int] = []

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        for each in super().stream(symbols):
            with sqlite3.connect(self.config.options["db"]) as db:
                Watched.durable.append(db.execute("SELECT COUNT(*) FROM bars").fetchone()[0])
            yield each


class _Plugin:
    @hookimpl
    def register_data_sources(self, register: Any) -> None:
        register("csv-watched", Watched)


@pytest.fixture(autouse=True)
def _plugin() -> Iterator[None]:
    plugins.register_plugin(_Plugin(), name="test-live-moments")
    yield
    plugins.unregister_plugin("test-live-moments")


def write_folder(folder: Path, symbols: str, n: int = 90) -> Path:
    folder.mkdir()
    for k, symbol in enumerate(symbols):
        rng = np.random.default_rng(k)
        # flat through the warm-up (no cross: the books start flat live or replayed), then a walk
        steps = np.r_[np.zeros(30), rng.normal(0, 0.02, n - 30)]
        close = 100 * np.exp(np.cumsum(steps))
        frame = pd.DataFrame(
            {"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close},
            index=pd.date_range("2023-01-02", periods=n, freq="D", name="Date"),
        ).assign(Volume=1e3)
        frame.to_csv(folder / f"{symbol}.csv")
    return folder


def run(folder: Path, db: Path, **changes: Any) -> list[tuple[Any, ...]]:
    config = RunConfig(
        strategies=[StrategySpec(CROSS, "cross", 1.0)],
        symbols=["AAA", "BBB", "CCC"],
        granularity="1d",
        broker="paper",
        lookback=25,
        db=db,
        stale_after=0,
        **changes,
    )
    with App(config) as app:
        assert app.execute() == "feed ended"
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT symbol, size, entry_time, exit_time, entry_price, exit_price, status "
            "FROM trades ORDER BY symbol, entry_time"
        ).fetchall()


def test_a_live_run_steps_moments_and_trades_as_its_replay(tmp_path):
    folder = write_folder(tmp_path / "bars", ["AAA", "BBB", "CCC"])
    db = tmp_path / "live.sqlite"
    Watched.durable = []
    live = run(
        folder, db, data_source="csv-watched", data_options={"path": str(folder), "db": str(db)}
    )
    # a moment's three bars are read before any of them is stepped, and the next moment's
    # first only once all three are durable
    moments = [Watched.durable[k : k + 3] for k in range(0, len(Watched.durable), 3)]
    assert len(moments) == 65
    assert all(m[0] == m[1] == m[2] for m in moments)
    assert [b[0] - a[0] for a, b in zip(moments, moments[1:], strict=False)] == [3] * 64
    with sqlite3.connect(db) as con:
        came = con.execute(
            "SELECT received_at FROM bars WHERE ts >= '2023-02-01' ORDER BY ts, symbol"
        ).fetchall()
    assert came and all(at is not None for (at,) in came)
    replayed = run(
        folder,
        tmp_path / "replay.sqlite",
        data_source="csv",
        replay=True,
        data_options={"path": str(folder)},
    )
    assert len(live) > 3 and live == replayed


def test_a_negative_gather_window_is_refused_by_name():
    with pytest.raises(UsageError, match=r"gather -1 s: give seconds >= 0"):
        RunConfig(strategies=[StrategySpec(CROSS, "cross", 1.0)], symbols=["AAA"], gather=-1)
