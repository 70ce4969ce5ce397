"""The strategies of backtesting.py's documentation examples (kernc/backtesting.py,
``doc/examples/*.py``), written here in our own code with the same logic: the examples are
notebook scripts, not importable. Each class names its page. Data and Backtest options are the
page's; where a strategy is slow bar by bar, a documented slice of the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.lib import SignalStrategy, TrailingStrategy, crossover, resample_apply
from backtesting.test import EURUSD, GOOG
from backtesting.test import SMA as LIB_SMA
from own_cases import Case


def rolling_mean(values: object, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


class QuickStartSmaCross(Strategy):
    """Quick Start User Guide: 10/20 SMA crossover, always in the market."""

    n1 = 10
    n2 = 20

    def init(self) -> None:
        self.fast = self.I(rolling_mean, self.data.Close, self.n1)
        self.slow = self.I(rolling_mean, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell()


class LibrarySignalTrailing(SignalStrategy, TrailingStrategy):
    """Strategies Library: SignalStrategy entries on an upward 10/25 SMA cross, 95% of the
    liquidity, with TrailingStrategy's 2-ATR trailing stop."""

    n1 = 10
    n2 = 25

    def init(self) -> None:
        super().init()
        fast = self.I(LIB_SMA, self.data.Close, self.n1)
        slow = self.I(LIB_SMA, self.data.Close, self.n2)
        upward = (pd.Series(fast) > slow).astype(int).diff().fillna(0).clip(lower=0)
        self.set_signal(entry_size=upward * 0.95)
        self.set_trailing_sl(2)


def rsi(values: object, n: int) -> pd.Series:
    change = pd.Series(values).diff()
    up, down = change.clip(lower=0), change.clip(upper=0)
    return 100 - 100 / (1 + up.ewm(n).mean() / down.abs().ewm(n).mean())


class MultiTimeFrameSystem(Strategy):
    """Multiple Time Frames: daily and weekly (``resample_apply('W-FRI')``) RSI above a level
    and stacked 10/20/50/100 SMAs enter long with an 8% stop; 2% under the 10-day SMA exits."""

    d_rsi = 30
    w_rsi = 30
    level = 70

    def init(self) -> None:
        close = self.data.Close
        self.ma = [self.I(rolling_mean, close, n) for n in (10, 20, 50, 100)]
        self.ma10, self.ma20, self.ma50, self.ma100 = self.ma
        self.daily_rsi = self.I(rsi, close, self.d_rsi)
        self.weekly_rsi = resample_apply("W-FRI", rsi, close, self.w_rsi)

    def next(self) -> None:
        price = self.data.Close[-1]
        stacked = self.ma10[-1] > self.ma20[-1] > self.ma50[-1] > self.ma100[-1]
        if (
            not self.position
            and self.daily_rsi[-1] > self.level
            and self.weekly_rsi[-1] > self.level
            and self.weekly_rsi[-1] > self.daily_rsi[-1]
            and stacked
            and price > self.ma10[-1]
        ):
            self.buy(sl=0.92 * price)
        elif price < 0.98 * self.ma10[-1]:
            self.position.close()


class HeatmapSma4Cross(Strategy):
    """Parameter Heatmap & Optimization: trend by 50/100 SMAs, entry on a cross of the 20 SMA,
    exit on a cross of the 10 SMA."""

    n1 = 50
    n2 = 100
    n_enter = 20
    n_exit = 10

    def init(self) -> None:
        close = self.data.Close
        self.sma1 = self.I(LIB_SMA, close, self.n1)
        self.sma2 = self.I(LIB_SMA, close, self.n2)
        self.enter = self.I(LIB_SMA, close, self.n_enter)
        self.exit = self.I(LIB_SMA, close, self.n_exit)

    def next(self) -> None:
        close = self.data.Close
        if not self.position:
            if self.sma1 > self.sma2:
                if crossover(close, self.enter):
                    self.buy()
            elif crossover(self.enter, close):
                self.sell()
        elif (self.position.is_long and crossover(self.exit, close)) or (
            self.position.is_short and crossover(close, self.exit)
        ):
            self.position.close()


# -- Trading with Machine Learning ------------------------------------------------------------
N_TRAIN = 400


def ml_features(data: pd.DataFrame, dropna: bool = True) -> pd.DataFrame:
    """The page's design matrix: distances to SMAs, SMA spreads, momentum, Bollinger bands,
    a sentiment flag, day and hour; rows with a NaN feature dropped (as the page does), or
    kept (``prepare_data`` keeps every bar)."""
    data = data.copy()
    close = data.Close.to_numpy()
    sma = {n: LIB_SMA(data.Close, n) for n in (10, 20, 50, 100)}
    hlc3 = (data.High + data.Low + data.Close) / 3
    mean, std = hlc3.rolling(20).mean(), hlc3.rolling(20).std()
    upper, lower = mean + 2 * std, mean - 2 * std
    for n in (10, 20, 50, 100):
        data[f"X_SMA{n}"] = (close - sma[n]) / close
    for a, b in ((10, 20), (20, 50), (50, 100)):
        data[f"X_DELTA_SMA{a}"] = (sma[a] - sma[b]) / close
    data["X_MOM"] = data.Close.pct_change(periods=2)
    data["X_BB_upper"] = (upper - close) / close
    data["X_BB_lower"] = (lower - close) / close
    data["X_BB_width"] = (upper - lower) / close
    data["X_Sentiment"] = ~data.index.to_series().between("2017-09-27", "2017-12-14")
    data["X_day"] = data.index.day_of_week
    data["X_hour"] = data.index.hour
    return (data.dropna() if dropna else data).astype(float)


def prepare_data(data: pd.DataFrame) -> pd.DataFrame:
    """The ML page's features as a strategy file's hook: every bar kept."""
    return ml_features(data, dropna=False)


def design(frame: pd.DataFrame) -> np.ndarray:
    return frame.filter(like="X").to_numpy()


def labels(frame: pd.DataFrame) -> pd.Series:
    """Return after 48 bars as -1/0/1 (0 within 0.4%): it looks 48 bars ahead."""
    y = frame.Close.pct_change(48).shift(-48)
    y[y.between(-0.004, 0.004)] = 0
    return np.sign(y)


class NearestNeighbours:
    """k-nearest-neighbours majority vote (the page uses scikit-learn's, k = 7)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def fit(self, frame: pd.DataFrame) -> NearestNeighbours:
        x, y = design(frame), labels(frame).to_numpy()
        keep = ~np.isnan(y) & ~np.isnan(x).any(axis=1)  # the page's rows: no NaN feature
        self.x, self.y = x[keep], y[keep]
        if len(self.y) < self.k:
            raise ValueError(f"{len(self.y)} training rows, fewer than k={self.k}")
        return self

    def predict_one(self, row: np.ndarray) -> float:
        nearest = np.argsort(((self.x - row) ** 2).sum(axis=1), kind="stable")[: self.k]
        votes, counts = np.unique(self.y[nearest], return_counts=True)
        return float(votes[np.argmax(counts)])


class MLTrainOnce(Strategy):
    """Trading with Machine Learning: a kNN trained once in init() on the first N_TRAIN rows
    forecasts each later bar; 20% of equity with 0.4% TP/SL, tightened after two days."""

    price_delta = 0.004

    def init(self) -> None:
        self.clf = NearestNeighbours(7).fit(self.data.df.iloc[:N_TRAIN])
        self.I(labels, self.data.df, name="y_true")
        self.forecasts = self.I(lambda: np.repeat(np.nan, len(self.data)), name="forecast")

    def next(self) -> None:
        if len(self.data) < N_TRAIN:
            return
        high, low, close = self.data.High, self.data.Low, self.data.Close
        forecast = self.clf.predict_one(design(self.data.df.iloc[-1:])[0])
        self.forecasts[-1] = forecast
        upper, lower = close[-1] * (1 + np.r_[1, -1] * self.price_delta)
        if forecast == 1 and not self.position.is_long:
            self.buy(size=0.2, tp=upper, sl=lower)
        elif forecast == -1 and not self.position.is_short:
            self.sell(size=0.2, tp=lower, sl=upper)
        for trade in self.trades:
            if self.data.index[-1] - trade.entry_time > pd.Timedelta("2 days"):
                trade.sl = max(trade.sl, low) if trade.is_long else min(trade.sl, high)


class MLWalkForward(MLTrainOnce):
    """Trading with Machine Learning: as MLTrainOnce, retrained every 20 bars on the last
    N_TRAIN rows."""

    def next(self) -> None:
        if len(self.data) < N_TRAIN:
            return
        if len(self.data) % 20:
            return super().next()
        self.clf = NearestNeighbours(7).fit(self.data.df[-N_TRAIN:])
        super().next()


#: EURUSD's first 1,000 hourly bars: enough for N_TRAIN and a few hundred forecasts, while
#: a kNN per bar over the full 5,000 would take most of the suite's time
ML_DATA = EURUSD.iloc[:1000]

PREPARE = """
from doc_strategies import prepare_data
"""


def doc_cases() -> list[Case]:
    commission = {"cash": 10_000, "commission": 0.002}
    ml = {"cash": 10_000, "commission": 0.0002, "margin": 0.05}
    features = ml_features(ML_DATA)
    return [
        Case("doc:Quick Start User Guide:SmaCross", QuickStartSmaCross, GOOG, commission),
        Case("doc:Strategies Library:SmaCross", LibrarySignalTrailing, GOOG, commission),
        Case("doc:Multiple Time Frames:System", MultiTimeFrameSystem, GOOG, commission),
        Case("doc:Parameter Heatmap:Sma4Cross", HeatmapSma4Cross, GOOG, commission),
        # the page computes the features on the whole data before the backtest: the CSV
        # carries them as extra columns. init() trains on the first N_TRAIN rows, so the
        # replay starts with that much history (--warmup), as a live run would need it
        Case("doc:Machine Learning:MLTrainOnceStrategy", MLTrainOnce, features, ml, warmup=450),
        Case("doc:Machine Learning:MLWalkForwardStrategy", MLWalkForward, features, ml, warmup=450),
        # without that history init() cannot train: the strategy's own error, reported as such
        Case("doc:Machine Learning:MLTrainOnceStrategy(no history)", MLTrainOnce, features, ml),
        # live, the features come from the strategy file's prepare_data() over the history,
        # replayed from plain OHLCV; the matching backtest is Backtest(prepare_data(df), S)
        Case(
            "doc:Machine Learning:MLWalkForwardStrategy+prepare_data",
            MLWalkForward,
            prepare_data(ML_DATA),
            ml,
            preamble=PREPARE,
            csv_data=ML_DATA,
            warmup=450,
        ),
    ]
