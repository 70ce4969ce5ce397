"""Test strategy: every entry is a stop order with an SL and a TP (no bracket at Alpaca, whose
brackets enter by market or limit: an OCO exit after the fill), and a far limit order is placed
and canceled on alternate bars (a cancel that must reach the broker)."""

from backtesting import Strategy

LOOKBACK = 3


class BracketAndCancel(Strategy):
    def init(self):
        self.parked = None

    def next(self):
        price = self.data.Close[-1]
        if self.parked is not None:
            self.parked.cancel()
            self.parked = None
        else:
            self.parked = self.buy(size=1, limit=round(price * 0.5, 2))
        if not self.position:
            self.buy(  # a buy stop just below the price (SL < stop < TP)
                size=0.1,
                stop=round(price * 0.995, 2),
                sl=round(price * 0.99, 2),
                tp=round(price * 1.01, 2),
            )
