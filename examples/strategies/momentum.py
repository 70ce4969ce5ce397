"""Momentum: hold a long position while the close is above where it was ROC_BARS ago by more
than a threshold; protect every entry with a stop-loss."""

import pandas as pd
from backtesting import Strategy

LOOKBACK = 25


def rate_of_change(close, bars):
    close = pd.Series(close)
    return (close / close.shift(bars) - 1).to_numpy()


class Momentum(Strategy):
    roc_bars = 12
    threshold = 0.002
    stop_loss = 0.01

    def init(self):
        self.roc = self.I(rate_of_change, self.data.Close, self.roc_bars)

    def next(self):
        price = self.data.Close[-1]
        if self.roc[-1] > self.threshold and not self.position:
            self.buy(size=0.5, sl=price * (1 - self.stop_loss))
        elif self.roc[-1] < 0 and self.position.is_long:
            self.position.close()
