"""Places three far-away limit orders every bar and cancels them the next: an order-rate test."""

from backtesting import Strategy

LOOKBACK = 2


class Burst(Strategy):
    def init(self):
        pass

    def next(self):
        for order in list(self.orders):
            order.cancel()
        price = self.data.Close[-1]
        for k in range(3):
            self.buy(size=1, limit=round(price * (0.5 - 0.01 * k), 2))
