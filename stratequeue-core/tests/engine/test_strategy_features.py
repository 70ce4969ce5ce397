"""What strategies nobody here wrote use, replayed like Backtest.run: its warm-up rule (all-NaN,
2-D, scatter and trailing-NaN indicators), look-ahead found from the first bar, errors that are
the strategy's, init() state computed from the data, extra columns and ``prepare_data``."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting._util import _indicator_warmup_nbars
from backtesting.lib import TrailingStrategy, crossover
from backtesting.test import GOOG, SMA
from own_cases import Case, compare, reference, replay
from stratequeue.cli import main as cli_main
from stratequeue.engine import StrategyRunner
from stratequeue.errors import StrategyError, UsageError

# -- warm-up ---------------------------------------------------------------------------------


class WarmupMix(Strategy):
    """The indicator shapes of backtesting.py's own warm-up cases: Assertive's all-NaN
    ``remains_indicator``, the ML example's all-NaN ``forecast`` and look-ahead ``y_true``
    (NaN only at the end), test_indicator_name's 2-D pair, test_indicator_scatter's scatter."""

    first: ClassVar[list[int]] = []

    def init(self) -> None:
        close = self.data.Close
        self.sma = self.I(SMA, close, 10)
        self.remains = np.r_[2] * np.cumsum(self.sma * 5 + 1) * np.r_[2]  # NaN everywhere
        self.forecast = self.I(lambda: np.repeat(np.nan, len(self.data)))
        self.pair = self.I(lambda: (SMA(close, 5), SMA(close, 20)))
        self.dots = self.I(SMA, close, 60, scatter=True)

    def next(self) -> None:
        if not type(self).first:
            type(self).first.append(len(self.data) - 1)
        if crossover(self.sma, self.pair[1]):
            self.buy(size=1)
        elif crossover(self.pair[1], self.sma):
            self.position.close()


def test_next_starts_where_backtest_run_starts(tmp_path) -> None:
    data = GOOG.iloc[:300]
    WarmupMix.first = []
    stats = Backtest(data, WarmupMix, finalize_trades=False).run()
    expected = 1 + _indicator_warmup_nbars(stats._strategy)
    assert WarmupMix.first == [expected] == [20]  # the 2-D pair's SMA(20) leads
    WarmupMix.first = []
    case = Case("warmup", WarmupMix, data, {"cash": 10_000})
    got = replay(case, tmp_path)
    assert WarmupMix.first == [expected]
    assert compare(got, reference(case)) is None


def test_a_runner_told_when_to_settle_does_not_wait_forever() -> None:
    runner = StrategyRunner(WarmupMix, strategy_id="w", symbol="X", settle_after=21)
    WarmupMix.first = []
    runner.warm_start(GOOG.iloc[:0])
    from stratequeue.models import Bar

    for ts, row in GOOG.iloc[:40].iterrows():
        runner.on_bar(Bar("X", ts.tz_localize("UTC").to_pydatetime(), *row[:5]))
    assert WarmupMix.first == [20]
    # without settling, the all-NaN indicators hold next() back for good, as before
    waiting = StrategyRunner(WarmupMix, strategy_id="w", symbol="X")
    WarmupMix.first = []
    for ts, row in GOOG.iloc[:40].iterrows():
        waiting.on_bar(Bar("X", ts.tz_localize("UTC").to_pydatetime(), *row[:5]))
    assert WarmupMix.first == []


# -- look-ahead and errors -------------------------------------------------------------------


class Trailing(TrailingStrategy):
    """backtesting.lib's TrailingStrategy (its ATR is back-filled) with an SMA entry."""

    def init(self) -> None:
        super().init()
        self.set_atr_periods(40)
        self.set_trailing_sl(3)
        self.sma = self.I(SMA, self.data.Close, 10)

    def next(self) -> None:
        super().next()
        if not self.position and self.data.Close[-1] > self.sma[-1]:
            self.buy()


def test_library_lookahead_is_warned_from_the_first_bar_and_the_crash_is_the_strategys(
    tmp_path, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="stratequeue")
    with pytest.raises(StrategyError) as error:
        replay(Case("trailing", Trailing, GOOG.iloc[:200], {"cash": 10_000}), tmp_path)
    warned = [r.getMessage() for r in caplog.records if "looks ahead" in r.getMessage()]
    assert len(warned) == 1 and "'TrailingStrategy.__atr'" in warned[0]
    assert "on the first 2 bars" in warned[0]
    message = str(error.value)
    assert message.startswith("Strategy Trailing raised AssertionError in next() at bar ")
    assert (
        "(backtesting.py line " in message
        and "called from test_strategy_features.py line " in message
    )
    assert "strategy's error, not StrateQueue's" in message and "bug" not in message


def test_the_cli_line_names_the_strategy_file_and_line_not_stratequeue(tmp_path, capsys) -> None:
    file = tmp_path / "broken.py"
    file.write_text(
        "from backtesting import Strategy\n"
        "class Broken(Strategy):\n"
        "    def init(self):\n"
        "        pass\n"
        "    def next(self):\n"
        "        if len(self.data) == 5:\n"
        "            raise KeyError('Spread')\n"
    )
    csv = tmp_path / "data.csv"
    GOOG.iloc[:20].to_csv(csv)
    with pytest.raises(SystemExit) as ended:
        cli_main(["replay", "--strategy", str(file), "--data", str(csv)])
    assert ended.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "Error: Strategy Broken raised KeyError in next() at bar 2004-08-25 00:00:00+00:00 "
        "(broken.py line 7): 'Spread'. This is the strategy's error, not StrateQueue's; its "
        "traceback is in the log file."
    )


class FlagFromLength(Strategy):
    """Sets a flag in init() from the data's length (backtesting's SometimesNoTrade)."""

    def init(self) -> None:
        self.long_enough = len(self.data) >= 30

    def next(self) -> None:
        if self.long_enough and not self.position:
            self.buy(size=1)


def test_init_state_from_the_data_is_warned_once_by_name(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="stratequeue")
    case = Case("flag", FlagFromLength, GOOG.iloc[:60], {"cash": 10_000})
    replay(case, tmp_path)
    warned = [r.getMessage() for r in caplog.records if "init() sets" in r.getMessage()]
    assert len(warned) == 1
    assert (
        "'long_enough'" in warned[0] and "False" in warned[0] and "True on the 30 bars" in warned[0]
    )


# -- extra columns and prepare_data ----------------------------------------------------------


class ReadsColumns(Strategy):
    """Trades on a CSV column (a market cap) and on a column it adds to data.df in init()."""

    def init(self) -> None:
        self.data.df["Range"] = self.data.df.High - self.data.df.Low
        self.cap = self.I(lambda: self.data.MCap)

    def next(self) -> None:
        wide = self.data.Range[-1] > 2 * np.nanmean(self.data.Range)
        if self.cap[-1] > self.cap[-2] and wide and not self.position:
            self.buy(size=1)
        elif self.position and self.data.Range[-1] < np.nanmean(self.data.Range):
            self.position.close()


def test_csv_columns_and_columns_added_in_init_reach_the_strategy(tmp_path) -> None:
    data = GOOG.iloc[:400].copy()
    data["MCap"] = data.Close * 1e6 + np.arange(len(data)) % 7
    case = Case("columns", ReadsColumns, data, {"cash": 10_000})
    ref = reference(case)
    assert len(ref) > 3
    assert compare(replay(case, tmp_path), ref) is None


def features(df: pd.DataFrame) -> pd.DataFrame:
    df["Momentum"] = df.Close.pct_change(5)
    return df


class OnFeature(Strategy):
    def init(self) -> None:
        pass

    def next(self) -> None:
        if self.data.Momentum[-1] > 0.03 and not self.position:
            self.buy(size=1)
        elif self.data.Momentum[-1] < -0.03:
            self.position.close()


def test_prepare_data_replays_like_the_backtest_of_its_output(tmp_path) -> None:
    data = GOOG.iloc[:400]
    case = Case(
        "prepare",
        OnFeature,
        features(data.copy()),
        {"cash": 10_000},
        preamble="from test_strategy_features import features as prepare_data",
        csv_data=data,
    )
    ref = reference(case)
    assert len(ref) > 3
    assert compare(replay(case, tmp_path), ref) is None


def centred(df: pd.DataFrame) -> pd.DataFrame:
    df["Momentum"] = df.Close.pct_change(5).bfill()
    return df


def dropping(df: pd.DataFrame) -> pd.DataFrame:
    return features(df).dropna()


def test_prepare_data_looking_ahead_is_warned_and_dropping_rows_refused(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="stratequeue")
    data = GOOG.iloc[:100]
    ahead = Case(
        "ahead",
        OnFeature,
        centred(data.copy()),
        {"cash": 10_000},
        preamble="from test_strategy_features import centred as prepare_data",
        csv_data=data,
    )
    replay(ahead, tmp_path / "a")
    warned = [r.getMessage() for r in caplog.records if "looks ahead" in r.getMessage()]
    assert len(warned) == 1 and "prepare_data()['Momentum']" in warned[0]
    drops = Case(
        "drops",
        OnFeature,
        data,
        {"cash": 10_000},
        preamble="from test_strategy_features import dropping as prepare_data",
    )
    with pytest.raises(
        UsageError, match=r"prepare_data\(\) of strategy s must return .* Drop no rows"
    ):
        replay(drops, tmp_path / "b")
