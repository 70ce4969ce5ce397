"""lib.TrailingStrategy on an SMA trend filter (100-bar SMA, so the ATR is warm before trading)."""

from backtesting.lib import TrailingStrategy, crossover
from backtesting.test import SMA

LOOKBACK = 120


class TrailingTrend(TrailingStrategy):
    fast = 20
    slow = 100

    def init(self):
        super().init()
        self.set_trailing_sl(3)
        self.fast_ma = self.I(SMA, self.data.Close, self.fast)
        self.slow_ma = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        super().next()
        if crossover(self.fast_ma, self.slow_ma):
            self.position.close()
            self.buy(size=0.5)
        elif crossover(self.slow_ma, self.fast_ma):
            self.position.close()
            self.sell(size=0.5)
