"""A seeded stress strategy in whole units: market, limit, stop and stop-limit entries in both
directions, SL/TP brackets, order.cancel(), position.close(), trade.close(), trade.sl/tp edits.
Every size is a whole number of units and every price is on a cent (Alpaca's tick), so a real
broker is sent exactly what backtesting.py fills."""

import contextlib

import numpy as np
from backtesting import Strategy
from backtesting.test import SMA

LOOKBACK = 5


class UnitsRandom(Strategy):
    seed = 7
    unit = 5
    rate = 0.3
    kinds = 4  # market, limit, stop, stop-limit
    brackets = 0.5  # chance of an SL, and of a TP, on an entry
    cancel_exits = True  # order.cancel() may pick a trade's SL or TP order

    def init(self):
        self.rng = np.random.default_rng(self.seed)
        self.sma = self.I(SMA, self.data.Close, 5)

    def _order(self, close, long):
        rng = self.rng
        kind = rng.integers(self.kinds)
        size = int(rng.integers(1, 4)) * self.unit
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
        if rng.random() < self.brackets:
            kw["sl"] = entry * (1 - sign * float(rng.uniform(0.01, 0.05)))
        if rng.random() < self.brackets:
            kw["tp"] = entry * (1 + sign * float(rng.uniform(0.01, 0.08)))
        kw = {k: round(v, 2) for k, v in kw.items()}
        with contextlib.suppress(ValueError):  # SL/TP on the wrong side of the price
            (self.buy if long else self.sell)(size=size, **kw)

    def next(self):
        rng = self.rng
        close = self.data.Close[-1]
        action = rng.random()
        if action < self.rate:
            self._order(close, long=rng.random() < 0.55)
        elif action < self.rate + 0.08 and self.orders:
            order = self.orders[int(rng.integers(len(self.orders)))]
            if self.cancel_exits or not order.is_contingent:
                order.cancel()
        elif action < self.rate + 0.14 and self.position:
            self.position.close()
        elif action < self.rate + 0.18 and self.trades:
            self.trades[int(rng.integers(len(self.trades)))].close()
        elif action < self.rate + 0.26 and self.trades:
            trade = self.trades[int(rng.integers(len(self.trades)))]
            sign = 1 if trade.is_long else -1
            if rng.random() < 0.5:
                trade.sl = round(close * (1 - sign * float(rng.uniform(0.01, 0.04))), 2)
            else:
                trade.tp = round(close * (1 + sign * float(rng.uniform(0.01, 0.06))), 2)
