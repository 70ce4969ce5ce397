"""A $1,000 sleeve trades fractional BTC through the REAL-broker path (fake Alpaca, alpaca-py,
real fills): with ``FRACTIONAL_UNIT`` the orders carry real fractional quantities, fills come
back into the book as whole units, every exit sells exactly the quantity held, and the trades
equal ``FractionalBacktest``'s exactly."""

from __future__ import annotations

import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("stratequeue_alpaca")
from backtesting.lib import FractionalBacktest  # noqa: E402
from stratequeue.app import App  # noqa: E402
from stratequeue.cli.commands import trades_table  # noqa: E402
from stratequeue.engine import load_strategy  # noqa: E402
from stratequeue.portfolio.config import StrategySpec  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402
from stratequeue_alpaca.testing.replay import fake_replay_source, replay_config  # noqa: E402

UNIT = 1e-5
COLUMNS = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL", "ReturnPct"]
STRATEGY = f'''"""Long-only SMA cross in 0.01 BTC lots (1000 units of {UNIT:g} BTC)."""

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

FRACTIONAL_UNIT = {UNIT!r}
LOOKBACK = 20


class SmaLots(Strategy):
    lots = 1000

    def init(self):
        self.fast = self.I(SMA, self.data.Close, 5)
        self.slow = self.I(SMA, self.data.Close, 15)

    def next(self):
        if crossover(self.fast, self.slow) and not self.position:
            self.buy(size=self.lots)
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()
'''


def btc_like(n: int = 400, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = close * np.exp(rng.normal(0, 0.0015, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.002, n)))
    index = pd.date_range("2024-03-01", periods=n, freq="h", tz="UTC")
    volume = rng.uniform(5, 50, n)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index
    )


def test_a_1000_dollar_sleeve_trades_fractional_btc_at_alpaca(tmp_path: Path) -> None:
    frame = btc_like()
    path = tmp_path / "sma_lots.py"
    path.write_text(STRATEGY)
    csv = tmp_path / "bars.csv"
    frame.to_csv(csv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = (
            FractionalBacktest(
                frame,
                load_strategy(path).cls,
                fractional_unit=UNIT,
                cash=1_000,
                finalize_trades=False,
            )
            .run()
            ._trades
        )
    assert len(ref) >= 3, "the case must trade"

    with FakeAlpaca(fill_mode="on_bar", cash=1_000) as fake, fake_replay_source():
        config = replay_config(
            fake, csv, [StrategySpec(path, "lots", 1.0)], symbol="BTCUSD", db=tmp_path / "l.db"
        )
        with App(config) as app:
            app.execute()
            table = trades_table(app.ledger, with_strategy=False)
            runner = app.portfolio.all_sleeves()[0].runner
            fills = app.ledger.db.execute("SELECT side, qty FROM fills ORDER BY rowid").fetchall()
            rejected = app.ledger.db.execute(
                "SELECT COUNT(*) FROM orders WHERE status='rejected'"
            ).fetchone()[0]
        with fake.exchange.lock:
            position = fake.exchange.positions.get("BTCUSD")
            held = float(position.qty) if position else 0.0
            sent = [
                (o["side"], float(o["qty"]))
                for o in sorted(fake.exchange.orders.values(), key=lambda o: o["created_at"])
            ]

    assert rejected == 0
    # every order carries 0.01 BTC (1000 units of 1e-5): buys, and sells of exactly what is held
    assert sent and all(qty == 1000 * UNIT for _, qty in sent), sent
    assert [s for s, _ in sent][: 2 * len(ref)] == ["buy", "sell"] * len(ref)
    assert all(qty == 1000 * UNIT for _, qty in fills)
    assert held == runner.position_size, "the account holds what the book holds"
    closed = table[table["ExitBar"].notna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        closed[COLUMNS].astype(float),
        ref[COLUMNS].reset_index(drop=True).astype(float),
        check_exact=True,
    )


def test_fraction_orders_are_sized_in_whole_units_and_exits_sell_what_is_held(
    tmp_path: Path,
) -> None:
    """``buy(size=0.9)`` with a fractional unit: sent as whole units of it (0.9 of the margin
    at the last close, floored to 1e-5 BTC), and each close sells exactly the bought quantity."""
    path = tmp_path / "sma_fraction.py"
    path.write_text(STRATEGY.replace("self.buy(size=self.lots)", "self.buy(size=0.9)"))
    csv = tmp_path / "bars.csv"
    btc_like().to_csv(csv)
    with FakeAlpaca(fill_mode="on_bar", cash=1_000) as fake, fake_replay_source():
        config = replay_config(
            fake, csv, [StrategySpec(path, "frac", 1.0)], symbol="BTCUSD", db=tmp_path / "l.db"
        )
        with App(config) as app:
            app.execute()
            runner = app.portfolio.all_sleeves()[0].runner
        with fake.exchange.lock:
            position = fake.exchange.positions.get("BTCUSD")
            held = float(position.qty) if position else 0.0
            sent = [
                (o["side"], float(o["qty"]), o["status"])
                for o in sorted(fake.exchange.orders.values(), key=lambda o: o["created_at"])
            ]
    buys = [q for s, q, _ in sent if s == "buy"]
    sells = [q for s, q, _ in sent if s == "sell"]
    assert len(buys) >= 3 and all(status == "filled" for *_, status in sent), sent
    # whole multiples of the unit as written on the wire (decimal, no float noise)
    assert all(0 < q < 1 and Decimal(repr(q)) % Decimal(repr(UNIT)) == 0 for q in buys), buys
    assert sells == buys[: len(sells)], (buys, sells)
    assert held == runner.position_size
