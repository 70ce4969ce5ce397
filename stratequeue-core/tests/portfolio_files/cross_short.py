"""The mirror image of cross_long, in whole units: it trades the opposite way in the same bars,
so in a shared account its orders cross the other strategy's."""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 25


class CrossShort(Strategy):
    units = 7

    def init(self):
        self.fast = self.I(SMA, self.data.Close, 5)
        self.slow = self.I(SMA, self.data.Close, 15)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.sell(size=self.units)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.buy(size=self.units)
