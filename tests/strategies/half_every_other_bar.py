"""Test strategy: buys half its capital on one bar and closes the trade on the next, so a
small sleeve trades a fraction of a unit (crypto) and its exit sells exactly what it holds."""

from backtesting import Strategy

LOOKBACK = 3
FRACTIONAL_UNIT = 1e-8  # BTC trades in satoshis (issue 14: fractional units in the core)


class HalfEveryOtherBar(Strategy):
    def init(self):
        pass

    def next(self):
        if self.position:
            self.position.close()
        else:
            self.buy(size=0.5)
