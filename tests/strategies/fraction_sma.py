"""Long-only SMA crossover sized as a fraction of the capital: buy(size=fraction) on a cross up
when flat, close on a cross down (never both in one bar)."""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 25


class FractionSma(Strategy):
    fraction = 0.5

    def init(self):
        self.fast = self.I(SMA, self.data.Close, 5)
        self.slow = self.I(SMA, self.data.Close, 15)

    def next(self):
        if crossover(self.fast, self.slow) and not self.position:
            self.buy(size=self.fraction)
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()
