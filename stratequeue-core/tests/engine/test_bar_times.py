"""Bar times as the backtest had them: a replay keeps the CSV's dates exactly (naive stays
naive, an offset stays); live, ``TIMEZONE`` / ``--timezone`` show naive wall times of a zone;
everything leaving the engine (executions, the ledger) stays UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.test import GOOG
from own_cases import Case, replay
from stratequeue.app import RunConfig
from stratequeue.engine import StrategyRunner
from stratequeue.engine.loader import load_strategy
from stratequeue.engine.times import zone_view
from stratequeue.errors import StrategyLoadError, UsageError
from stratequeue.models import Bar
from stratequeue.portfolio.config import StrategySpec


class SeesTimes(Strategy):
    """Buys on one date, given as the data's own kind of timestamp; records what it saw."""

    seen: ClassVar[list[pd.Timestamp]] = []
    day: ClassVar[pd.Timestamp] = pd.Timestamp("2004-09-09")

    def init(self) -> None:
        pass

    def next(self) -> None:
        type(self).seen.append(self.data.index[-1])
        if self.data.index[-1] == self.day:
            self.buy(size=1)
        elif len(self.trades) and len(self.data) % 7 == 0:
            self.position.close()


def _backtest_index(data: pd.DataFrame) -> list[pd.Timestamp]:
    SeesTimes.seen = []
    Backtest(data, SeesTimes, finalize_trades=False).run()
    return list(SeesTimes.seen)


@pytest.mark.parametrize("zone", [None, "Asia/Kolkata"])
def test_replay_shows_the_csv_dates_exactly(tmp_path, zone) -> None:
    data = GOOG.iloc[:40].copy()
    if zone:
        data.index = data.index.tz_localize(zone)
        SeesTimes.day = pd.Timestamp("2004-09-09", tz=zone)
    else:
        SeesTimes.day = pd.Timestamp("2004-09-09")
    expected = _backtest_index(data)
    SeesTimes.seen = []
    trades = replay(Case("times", SeesTimes, data, {"cash": 10_000}), tmp_path)
    assert SeesTimes.seen == expected
    # naive stays naive; an offset stays (a CSV keeps the offset, not the zone's name)
    assert [t.utcoffset() for t in SeesTimes.seen[:1]] == [data.index[0].utcoffset()]
    assert len(trades) == 1  # the date matched: the strategy traded
    # the ledger keeps UTC: the entry bar's date in UTC
    entry = data.index[trades["EntryBar"].iloc[0]]
    utc = entry.tz_localize("UTC") if entry.tz is None else entry.tz_convert("UTC")
    assert trades["EntryTime"].iloc[0] == utc


class Session(Strategy):
    """Acts at the 09:30 New York bar, as a strategy backtested on exchange-local times."""

    def init(self) -> None:
        pass

    def next(self) -> None:
        now = self.data.index[-1]
        if now.hour == 9 and now.minute == 30 and not self.position:
            self.buy(size=1)


def _bars(start: str, n: int) -> list[Bar]:
    times = pd.date_range(start, periods=n, freq="30min", tz="UTC")
    return [
        Bar("SPY", t.to_pydatetime(), 100 + k, 101 + k, 99 + k, 100.5 + k)
        for k, t in enumerate(times)
    ]


def test_timezone_shows_naive_wall_times_and_executions_stay_utc() -> None:
    runner = StrategyRunner(
        Session, strategy_id="s", symbol="SPY", times=zone_view("America/New_York", "test")
    )
    steps = [runner.on_bar(bar) for bar in _bars("2024-01-02 13:00", 6)]
    index = runner.strategy.data.index
    assert index.tz is None
    assert index[0] == pd.Timestamp("2024-01-02 08:00")  # 13:00 UTC is 08:00 EST
    # ordered at the 09:30 bar (14:30 UTC), filled at the next bar's open, 15:00 UTC
    fills = [e for step in steps for e in step.executions]
    assert [e.time for e in fills] == [datetime(2024, 1, 2, 15, 0, tzinfo=UTC)]
    assert runner.bar_time_utc(0) == datetime(2024, 1, 2, 13, 0, tzinfo=UTC)


def test_without_a_zone_bar_times_are_aware_utc() -> None:
    runner = StrategyRunner(Session, strategy_id="s", symbol="SPY")
    for bar in _bars("2024-01-02 13:00", 6):
        runner.on_bar(bar)
    assert str(runner.strategy.data.index.tz) == "UTC"
    assert runner.closed_trades == () and runner.open_trades == ()  # 09:30 UTC never came


def test_a_bad_zone_is_one_line_naming_the_fix(tmp_path) -> None:
    file = tmp_path / "s.py"
    file.write_text(
        "from backtesting import Strategy\nTIMEZONE = 'New York'\n"
        "class S(Strategy):\n    def init(self): pass\n    def next(self): pass\n"
    )
    with pytest.raises(StrategyLoadError, match="'New York' is not an IANA time zone"):
        load_strategy(file)
    with pytest.raises(UsageError, match="--timezone: 'EST5' is not an IANA"):
        RunConfig(strategies=[StrategySpec(file, "s", 1.0)], symbols=["X"], timezone="EST5")
    file.write_text(file.read_text().replace("New York", "America/New_York"))
    assert load_strategy(file).timezone == "America/New_York"


def test_a_csv_of_row_numbers_is_refused_not_replayed_silently(tmp_path) -> None:
    data = GOOG.iloc[:30].reset_index(drop=True)
    with pytest.raises(UsageError, match="holds numbers, not dates"):
        replay(Case("rows", SeesTimes, data, {"cash": 10_000}), tmp_path)


def test_a_warm_start_on_utc_history_shows_the_zone_too() -> None:
    bars = _bars("2024-01-02 13:00", 8)
    from stratequeue.data.base import bars_to_frame

    runner = StrategyRunner(
        Session, strategy_id="s", symbol="SPY", times=zone_view("America/New_York", "test")
    )
    runner.warm_start(bars_to_frame(bars[:5]))
    runner.on_bar(bars[5])
    index = runner.strategy.data.index
    assert index.tz is None
    assert list(index[:6]) == list(pd.date_range("2024-01-02 08:00", periods=6, freq="30min"))
    # the 09:30 New York bar (14:30 UTC) was history: its order filled at the next bar, 15:00 UTC
    assert [t.entry_bar for t in runner.open_trades] == [4]
    assert runner.bar_time_utc(4) == datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
