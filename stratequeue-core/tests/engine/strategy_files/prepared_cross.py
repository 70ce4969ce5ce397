"""A crossover of the close over a column the file's ``prepare_data`` adds (the typical price's
10-bar mean): the matching backtest is ``Backtest(prepare_data(df), PreparedCross)``."""

import pandas as pd
from backtesting import Strategy
from backtesting.lib import crossover

LOOKBACK = 12


def prepare_data(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["Typical"] = ((df.High + df.Low + df.Close) / 3).rolling(10).mean()
    return out


class PreparedCross(Strategy):
    def init(self):
        self.typical = self.I(lambda x: x, self.data.Typical, name="typical")

    def next(self):
        if crossover(self.data.Close, self.typical):
            self.position.close()
            self.buy(size=0.5)
        elif crossover(self.typical, self.data.Close):
            self.position.close()
