"""Test strategy: keeps one buy limit far below the price working (it never fills), so that
there is always an open entry order to cancel."""

from backtesting import Strategy

LOOKBACK = 3


class RestingLimit(Strategy):
    def init(self):
        pass

    def next(self):
        if not self.orders and not self.position:
            self.buy(size=1, limit=round(self.data.Close[-1] * 0.5, 2))
