"""Test strategy: buys one share whenever it is flat and holds it, so that a position is there
to flatten and every bar without one wants a new entry."""

from backtesting import Strategy

LOOKBACK = 3


class BuyAndHold(Strategy):
    def init(self):
        pass

    def next(self):
        if not self.position:
            self.buy(size=1)
