"""Breakout entries with stop and limit orders, SL/TP brackets and fraction sizes."""

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.test import SMA


def highest(values, n):
    return pd.Series(values).rolling(n).max().to_numpy()


def lowest(values, n):
    return pd.Series(values).rolling(n).min().to_numpy()


class BracketBreakout(Strategy):
    n = 20
    risk = 0.03
    size = 0.25

    def init(self):
        self.hi = self.I(highest, self.data.High, self.n)
        self.lo = self.I(lowest, self.data.Low, self.n)
        self.trend = self.I(SMA, self.data.Close, 2 * self.n)

    def next(self):
        close = self.data.Close[-1]
        for order in self.orders:
            if not order.is_contingent:
                order.cancel()
        if self.position:
            return
        if close > self.trend[-1]:
            stop = max(self.hi[-1], close * 1.001)
            self.buy(
                size=self.size, stop=stop, sl=stop * (1 - self.risk), tp=stop * (1 + 2 * self.risk)
            )
            limit = close * 0.99
            self.buy(
                size=self.size / 2,
                limit=limit,
                sl=limit * (1 - self.risk),
                tp=limit * (1 + self.risk),
            )
        else:
            stop = min(self.lo[-1], close * 0.999)
            self.sell(
                size=self.size, stop=stop, sl=stop * (1 + self.risk), tp=stop * (1 - 2 * self.risk)
            )
            if np.isfinite(self.lo[-1]):
                self.sell(size=self.size / 2, stop=stop, limit=stop * 0.998, sl=stop * 1.05)
