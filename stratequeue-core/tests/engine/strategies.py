"""Strategies for the parity suite; the files in ``strategy_files/`` are loadable on their own."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.lib import SignalStrategy, crossover, resample_apply
from backtesting.test import SMA

FILES = Path(__file__).parent / "strategy_files"
sys.path.insert(0, str(FILES))

from bracket_breakout import BracketBreakout  # noqa: E402
from random_orders import RandomOrders  # noqa: E402
from sma_cross import SmaCross  # noqa: E402
from trailing_signal import TrailingTrend  # noqa: E402

__all__ = [
    "FILES",
    "BracketBreakout",
    "CentredMean",
    "NoIndicators",
    "RandomOrders",
    "ResampledTrend",
    "SignalCross",
    "SmaCross",
    "TrailingTrend",
]


class SignalCross(SignalStrategy):
    """lib.SignalStrategy: enter on SMA cross with a fraction size, exit half on the reverse."""

    def init(self):
        super().init()
        fast = self.I(SMA, self.data.Close, 8)
        slow = self.I(SMA, self.data.Close, 21)
        cross_up = pd.Series(fast > slow).astype(int).diff().fillna(0) > 0
        cross_dn = pd.Series(fast < slow).astype(int).diff().fillna(0) > 0
        entry = np.where(cross_up, 0.4, np.where(cross_dn, -0.4, 0))
        exit_ = np.where(cross_dn, 0.5, np.where(cross_up, -0.5, 0))
        self.set_signal(entry, exit_)


class ResampledTrend(Strategy):
    """lib.resample_apply: a slower-timeframe SMA compared with the bar-level close."""

    rule = "W"
    n = 5

    def init(self):
        self.slow = resample_apply(self.rule, SMA, self.data.Close, self.n)
        self.fast = self.I(SMA, self.data.Close, 5)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(size=0.5)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell(size=0.5)


class NoIndicators(Strategy):
    """No indicators at all: trading starts at bar 1, units sizing, pending limit orders."""

    def init(self):
        self.count = 0

    def next(self):
        self.count += 1
        if self.count % 7 == 0:
            self.buy(size=2, limit=self.data.Close[-1] * 0.995)
        if self.count % 11 == 0 and self.position:
            self.position.close()


def centred(values, n):
    return pd.Series(values).rolling(n, center=True).mean().to_numpy()


class CentredMean(Strategy):
    """Looks ahead: a centred rolling mean (for the look-ahead warning)."""

    def init(self):
        self.mid = self.I(centred, self.data.Close, 9, name="centred")

    def next(self):
        if self.data.Close[-1] > self.mid[-1] and not self.position:
            self.buy(size=1)
        elif self.data.Close[-1] < self.mid[-1] and self.position:
            self.position.close()
