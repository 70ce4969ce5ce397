"""Test strategy: each entry carries an SL and a TP (one bracket order at a broker that has
them) and its number as tag; once in the trade the stop is moved down (an edit that must
replace the leg at the broker); the second trade is closed with position.close() two bars
after its entry (its legs must be canceled at the broker first); a far limit order is placed
and canceled on alternate bars."""

from backtesting import Strategy

LOOKBACK = 3


class BracketEdit(Strategy):
    def init(self):
        self.parked = None

    def next(self):
        price = self.data.Close[-1]
        if self.parked is not None:
            self.parked.cancel()
            self.parked = None
        else:
            self.parked = self.buy(size=1, limit=round(price * 0.5, 2))
        for trade in self.trades:
            lower = round(trade.entry_price * 0.98, 2)
            if trade.sl is not None and trade.sl != lower:
                trade.sl = lower
            elif trade.tag == 2 and len(self.data) - 1 - trade.entry_bar >= 2:
                self.position.close()
        if not self.position and not self.orders:
            entries = len(self.closed_trades) + 1
            self.buy(size=0.1, sl=round(price * 0.99, 2), tp=round(price * 1.01, 2), tag=entries)
