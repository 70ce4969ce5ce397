"""Breakout entries in whole units: a stop and a limit order, each with an SL/TP bracket, placed
only while flat and canceled after one bar. Prices are on a cent (Alpaca's tick)."""

import pandas as pd
from backtesting import Strategy
from backtesting.test import SMA

LOOKBACK = 45


def highest(values, n):
    return pd.Series(values).rolling(n).max().to_numpy()


def lowest(values, n):
    return pd.Series(values).rolling(n).min().to_numpy()


class UnitsBracket(Strategy):
    n = 20
    risk = 0.015
    units = 20

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
        r = self.risk
        if close > self.trend[-1]:
            stop = round(max(self.hi[-1], close * 1.001), 2)
            self.buy(
                size=self.units,
                stop=stop,
                sl=round(stop * (1 - r), 2),
                tp=round(stop * (1 + 2 * r), 2),
            )
            limit = round(close * 0.995, 2)
            self.buy(
                size=self.units // 2,
                limit=limit,
                sl=round(limit * (1 - r), 2),
                tp=round(limit * (1 + r), 2),
            )
        else:
            stop = round(min(self.lo[-1], close * 0.999), 2)
            self.sell(
                size=self.units,
                stop=stop,
                sl=round(stop * (1 + r), 2),
                tp=round(stop * (1 - 2 * r), 2),
            )
