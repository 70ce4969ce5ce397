"""SMA crossover: buy when the fast average crosses above the slow one, sell on the way down."""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

LOOKBACK = 30  # bars of history the indicators need before the first decision


class SmaCross(Strategy):
    fast = 10
    slow = 20

    def init(self):
        self.sma_fast = self.I(SMA, self.data.Close, self.fast)
        self.sma_slow = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.sma_fast, self.sma_slow):
            self.position.close()
            self.buy(size=0.25)  # 25% of the strategy's capital
        elif crossover(self.sma_slow, self.sma_fast):
            self.position.close()
            self.sell(size=0.25)
