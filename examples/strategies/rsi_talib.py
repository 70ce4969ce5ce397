"""RSI mean reversion with TA-Lib indicators: buy when the 14-bar RSI turns up out of
oversold, with a stop-loss two ATRs below the close; sell when the RSI turns down out of
overbought. Needs the analytics extra: pip install "stratequeue[analytics]"."""

import talib
from backtesting import Strategy
from backtesting.lib import crossover

LOOKBACK = 30


class RsiTalib(Strategy):
    rsi_bars = 14
    atr_bars = 14
    oversold = 30
    overbought = 70
    stop_atrs = 2.0

    def init(self):
        self.rsi = self.I(talib.RSI, self.data.Close, self.rsi_bars)
        self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, self.atr_bars)

    def next(self):
        price = self.data.Close[-1]
        if crossover(self.rsi, self.oversold) and not self.position:
            self.buy(size=0.5, sl=price - self.stop_atrs * self.atr[-1])
        elif crossover(self.overbought, self.rsi) and self.position.is_long:
            self.position.close()
