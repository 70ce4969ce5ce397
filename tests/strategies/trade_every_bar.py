"""Test strategy: buys one share on one bar and closes it on the next, so that every bar of a
live run sends an order (crash and safety tests need orders in flight at any moment)."""

from backtesting import Strategy

LOOKBACK = 3


class TradeEveryBar(Strategy):
    def init(self):
        pass

    def next(self):
        if self.position:
            self.position.close()
        else:
            self.buy(size=1)
