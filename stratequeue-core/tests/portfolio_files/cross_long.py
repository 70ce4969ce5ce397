"""Goes long on an SMA cross up and short on a cross down, with a fraction of its capital."""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 25


class CrossLong(Strategy):
    def init(self):
        self.fast = self.I(SMA, self.data.Close, 5)
        self.slow = self.I(SMA, self.data.Close, 15)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(size=0.5)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell(size=0.5)
