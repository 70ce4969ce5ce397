"""Market entries in whole units with a tight SL/TP, placed while flat: at a broker with
brackets each goes out as one bracket order, and its legs often fill in the entry bar itself.
Prices are on a cent (Alpaca's tick)."""

from backtesting import Strategy
from backtesting.test import SMA

LOOKBACK = 10


class UnitsMarketBracket(Strategy):
    units = 10
    risk = 0.006

    def init(self):
        self.sma = self.I(SMA, self.data.Close, 10)

    def next(self):
        if self.position or self.orders:
            return
        close = self.data.Close[-1]
        r = self.risk
        if close > self.sma[-1]:
            self.buy(size=self.units, sl=round(close * (1 - r), 2), tp=round(close * (1 + r), 2))
        else:
            self.sell(size=self.units, sl=round(close * (1 + r), 2), tp=round(close * (1 - r), 2))
