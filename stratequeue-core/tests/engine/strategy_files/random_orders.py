"""A seeded stress strategy: every order kind and book operation backtesting.py offers.

Market, limit, stop and stop-limit orders in both directions, fraction and unit sizes,
SL/TP brackets, order.cancel(), position.close(fraction), trade.close(), trade.sl/tp edits.
"""

import contextlib

import numpy as np
from backtesting import Strategy
from backtesting.test import SMA


class RandomOrders(Strategy):
    seed = 7
    unit = 1  # whole units per "lot" (scale to the price level of the data)
    rate = 0.3

    def init(self):
        self.rng = np.random.default_rng(self.seed)
        self.sma = self.I(SMA, self.data.Close, 5)

    def _order(self, close, long):
        rng = self.rng
        kind = rng.integers(4)  # market, limit, stop, stop-limit
        size = (
            float(rng.choice([0.1, 0.3, 0.6]))
            if rng.random() < 0.5
            else int(rng.integers(1, 4)) * self.unit
        )
        off = float(rng.uniform(0.002, 0.02))
        sign = 1 if long else -1
        kw = {}
        if kind == 1:
            kw["limit"] = close * (1 - sign * off)
        elif kind == 2:
            kw["stop"] = close * (1 + sign * off)
        elif kind == 3:
            kw["stop"] = close * (1 + sign * off)
            kw["limit"] = kw["stop"] * (1 + sign * off / 2)
        entry = kw.get("limit") or kw.get("stop") or close
        if rng.random() < 0.5:
            kw["sl"] = entry * (1 - sign * float(rng.uniform(0.01, 0.05)))
        if rng.random() < 0.5:
            kw["tp"] = entry * (1 + sign * float(rng.uniform(0.01, 0.08)))
        if rng.random() < 0.3:
            kw["tag"] = f"t{int(rng.integers(100))}"
        # SL/TP on the wrong side of the (spread-adjusted) price raises ValueError: skip it
        with contextlib.suppress(ValueError):
            (self.buy if long else self.sell)(size=size, **kw)

    def next(self):
        rng = self.rng
        close = self.data.Close[-1]
        action = rng.random()
        if action < self.rate:
            self._order(close, long=rng.random() < 0.55)
        elif action < self.rate + 0.08 and self.orders:
            self.orders[int(rng.integers(len(self.orders)))].cancel()
        elif action < self.rate + 0.14 and self.position:
            self.position.close(float(rng.choice([0.5, 1.0])))
        elif action < self.rate + 0.18 and self.trades:
            self.trades[int(rng.integers(len(self.trades)))].close(0.5)
        elif action < self.rate + 0.26 and self.trades:
            trade = self.trades[int(rng.integers(len(self.trades)))]
            sign = 1 if trade.is_long else -1
            if rng.random() < 0.5:
                trade.sl = close * (1 - sign * float(rng.uniform(0.01, 0.04)))
            else:
                trade.tp = close * (1 + sign * float(rng.uniform(0.01, 0.06)))
        elif action < self.rate + 0.28 and self.trades:
            self.trades[0].sl = None
