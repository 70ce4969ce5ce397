"""Mean reversion: buy when the close falls well below its moving average (z-score), take
profit at the average with a limit order, and exit on the way back up."""

import pandas as pd
from backtesting import Strategy

LOOKBACK = 40


def zscore(close, bars):
    close = pd.Series(close)
    mean = close.rolling(bars).mean()
    return ((close - mean) / close.rolling(bars).std()).to_numpy()


class MeanRevert(Strategy):
    bars = 20
    entry = -1.5
    exit = 0.0

    def init(self):
        self.z = self.I(zscore, self.data.Close, self.bars)

    def next(self):
        if not self.position and self.z[-1] < self.entry:
            self.buy(size=0.3)
        elif self.position.is_long and self.z[-1] > self.exit:
            self.position.close()
