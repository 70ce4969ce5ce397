"""The mirror image of sma_units in 7 units: it trades the opposite way in the same bars, so in
a shared account its orders net against the other strategy's (never to zero)."""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 25


class SmaUnitsMirror(Strategy):
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
