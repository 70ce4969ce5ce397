"""SMA crossover in whole units: long 10 on a cross up, short 10 on a cross down."""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 25


class SmaUnits(Strategy):
    units = 10

    def init(self):
        self.fast = self.I(SMA, self.data.Close, 5)
        self.slow = self.I(SMA, self.data.Close, 15)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(size=self.units)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell(size=self.units)
