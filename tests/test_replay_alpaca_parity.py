"""A replay through the REAL-broker code path equals Backtest.run for whole-unit strategies.

CSV bars -> fake Alpaca (fills as backtesting.py: market orders at the next bar's open) ->
alpaca-py -> the alpaca plugin (``stream=False``: every bar polls) -> ``Portfolio`` in external
mode (orders sized at submission, real fills applied with ``StrategyRunner.apply_fill``) ->
ledger. The closed trades read back from the ledger are compared with ``Backtest.run``'s
exactly; so are the books' equity curves, and the fake account's position must equal the sum of
the books' positions. Fraction sizes differ by design: the measured difference is asserted.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("stratequeue_alpaca")
from backtesting import Backtest  # noqa: E402
from stratequeue.app import App  # noqa: E402
from stratequeue.cli.commands import trades_table  # noqa: E402
from stratequeue.engine import load_strategy  # noqa: E402
from stratequeue.portfolio.config import StrategySpec  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402
from stratequeue_alpaca.testing.replay import fake_replay_source, replay_config  # noqa: E402

STRATEGIES = Path(__file__).parent / "strategies"
SYMBOL = "SYNTH"
COLUMNS = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "SL", "TP", "PnL"]
COLUMNS += ["Commission", "ReturnPct", "EntryTime", "ExitTime"]
# Trades closed in one bar can be listed in another order (the broker reports that bar's fills
# in the order the orders were placed; backtesting.py processes stop-losses first): both lists
# are sorted by this key, then compared row by row, exactly.
ORDER = ["ExitBar", "EntryBar", "EntryPrice", "Size"]


def synthetic(n: int, seed: int = 3) -> pd.DataFrame:
    """Hourly bars of a random walk (the shape of stratequeue-core's replay parity data)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    index = pd.date_range("2022-01-03", periods=n, freq="h", tz="UTC")
    volume = rng.integers(1000, 5000, n).astype(float)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index
    )


def tuned(tmp_path: Path, path: Path, **attrs: Any) -> Path:
    """A copy of strategy file ``path`` whose class has ``attrs`` as class attributes."""
    if not attrs:
        return path
    name = load_strategy(path).cls.__name__
    body = "".join(f"    {k} = {v!r}\n" for k, v in attrs.items())
    out = tmp_path / f"{path.stem}_tuned.py"
    out.write_text(f"{path.read_text()}\n\nclass Tuned{name}({name}):\n{body}")
    return out


def backtest(frame: pd.DataFrame, path: Path, cash: float, **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(
            frame, load_strategy(path).cls, cash=cash, finalize_trades=False, **options
        ).run()


def closed(trades: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    trades = trades[trades["ExitBar"].notna()].copy()
    trades["EntryTime"] = frame.index[trades["EntryBar"].astype(int).to_numpy()]
    trades["ExitTime"] = frame.index[trades["ExitBar"].astype(int).to_numpy()]
    return trades[COLUMNS].sort_values(ORDER, kind="stable").reset_index(drop=True)


class Replayed:
    """One replay's results: closed trades per strategy, book equity curves, the fake account."""

    def __init__(
        self,
        tmp_path: Path,
        frame: pd.DataFrame,
        specs: list[StrategySpec],
        cash: float,
        hold_shares: bool = True,
        **options: Any,
    ) -> None:
        csv = tmp_path / "bars.csv"
        frame.to_csv(csv)
        with FakeAlpaca(fill_mode="on_bar", cash=cash) as fake, fake_replay_source():
            fake.exchange.hold_shares = hold_shares
            config = replay_config(
                fake, csv, specs, symbol=SYMBOL, db=tmp_path / "ledger.sqlite",
                backtest_options=options,
            )  # fmt: skip
            with App(config) as app:
                app.execute()
                table = trades_table(app.ledger, with_strategy=True)
                self.books = {s.strategy_id: s.runner for s in app.portfolio.all_sleeves()}
                with fake.exchange.lock:
                    position = fake.exchange.positions.get(SYMBOL)
                    self.account_qty = float(position.qty) if position else 0.0
                self.rejections = [
                    m
                    for (m,) in app.ledger.db.execute(
                        "SELECT message FROM orders WHERE status='rejected'"
                    )
                ]
                self.orphans = app.ledger.db.execute(
                    "SELECT COUNT(*) FROM fill_allocations a JOIN fills f ON f.id = a.fill_id "
                    "WHERE a.strategy_id = 'EXTERNAL'"
                ).fetchone()[0]
        self.trades = {
            sid: closed(table[table["Strategy"] == sid].reset_index(drop=True), frame)
            for sid in self.books
        }
        self.bars = len(frame)

    def books_qty(self) -> float:
        return float(sum(runner.position_size for runner in self.books.values()))


def assert_same_trades(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert len(ref) > 0, "the case makes no trade: it proves nothing"
    assert len(got) == len(ref), f"{len(got)} trades replayed, {len(ref)} in Backtest.run"
    pd.testing.assert_frame_equal(
        got.astype({c: float for c in COLUMNS[:10]}),
        ref.astype({c: float for c in COLUMNS[:10]}),
        check_exact=True,
        check_dtype=False,
    )


def assert_same_equity(runner: Any, stats: Any) -> None:
    """The book's equity at every bar where its strategy traded equals Backtest.run's."""
    ours = runner.equity_curve()
    theirs = stats._equity_curve["Equity"].to_numpy()[: len(ours)]
    live = ~np.isnan(ours)
    assert live.sum() > 0
    assert np.array_equal(ours[live], theirs[live])


def reference_trades(frame: pd.DataFrame, path: Path, cash: float, **options: Any) -> Any:
    stats = backtest(frame, path, cash, **options)
    trades = stats._trades.rename_axis(None).reset_index(drop=True)
    return stats, closed(trades, frame)


WHOLE_UNITS = [
    ("sma-units", "sma_units.py", {}, {}),
    ("sma-units-commission", "sma_units.py", {}, {"commission": 0.002}),
    ("orders-market-limit-stop-stoplimit", "units_random.py", {"brackets": 0, "unit": 2}, {}),
    ("orders-seed-11", "units_random.py", {"brackets": 0, "unit": 2, "seed": 11}, {}),
]


@pytest.mark.parametrize(
    ("name", "file", "attrs", "options"), WHOLE_UNITS, ids=[c[0] for c in WHOLE_UNITS]
)
def test_whole_unit_trades_equal_backtest_run(tmp_path, name, file, attrs, options):
    """The random strategy keeps several sell orders working at once (stops, limits, closes):
    Alpaca refuses a sell of shares that working sells already hold, backtesting.py does not
    know that rule, so those cases turn it off in the fake to compare StrateQueue's own
    translation (test_alpacas_held_shares_rule_is_the_only_difference shows the rule's part)."""
    frame, cash = synthetic(400), 10_000.0
    path = tuned(tmp_path, STRATEGIES / file, **attrs)
    hold = not name.startswith("orders")
    run = Replayed(tmp_path, frame, [StrategySpec(path, "s", 1.0)], cash, hold, **options)
    stats, ref = reference_trades(frame, path, cash, **options)
    assert_same_trades(run.trades["s"], ref)
    assert_same_equity(run.books["s"], stats)
    assert run.account_qty == run.books_qty() and run.orphans == 0


def test_alpacas_held_shares_rule_is_the_only_difference(tmp_path):
    """With Alpaca's rule on, the random strategy's refused orders are all 'insufficient qty
    available' (shares held by its working sells), and they are why its trades differ."""
    frame, cash = synthetic(400), 10_000.0
    path = tuned(tmp_path, STRATEGIES / "units_random.py", brackets=0, unit=2)
    run = Replayed(tmp_path, frame, [StrategySpec(path, "s", 1.0)], cash, True)
    _, ref = reference_trades(frame, path, cash)
    assert run.rejections, "the rule refused nothing: the case proves nothing"
    assert all(m.startswith("insufficient qty available") for m in run.rejections)
    assert len(run.trades["s"]) != len(ref)
    assert run.account_qty == run.books_qty() and run.orphans == 0  # and the books stay true


def test_netted_strategies_each_equal_their_own_backtest_run(tmp_path):
    """Two strategies on one symbol trade opposite ways in the same bars (10 and 7 units): one
    netted order of 3 goes to the broker, each book is filled its own size at the real price."""
    frame = synthetic(400)
    specs = [
        StrategySpec(STRATEGIES / "sma_units.py", "long10", 0.5),
        StrategySpec(STRATEGIES / "sma_units_mirror.py", "short7", 0.5),
    ]
    run = Replayed(tmp_path, frame, specs, 20_000.0)
    for spec in specs:
        stats, ref = reference_trades(frame, spec.file, 10_000.0)
        assert_same_trades(run.trades[spec.strategy_id], ref)
        assert_same_equity(run.books[spec.strategy_id], stats)
    assert run.account_qty == run.books_qty() and run.orphans == 0


def test_brackets_equal_backtest_run_but_a_stop_entrys_exit_in_its_entry_bar(tmp_path):
    """Stop and limit entries with SL/TP in whole units. A limit entry goes to Alpaca as one
    bracket: its legs work from its fill, in the entry bar where backtesting.py lets them. A
    stop entry goes out plain, its SL/TP as an OCO once its fill is seen, so they work from
    the next bar; Backtest.run can exit it in its entry bar (a gap past the take-profit).
    Every other trade is exact; each such trade has the same entry and exits later."""
    frame, cash = synthetic(300), 10_000.0
    path = STRATEGIES / "units_bracket.py"
    run = Replayed(tmp_path, frame, [StrategySpec(path, "s", 1.0)], cash)
    _, ref = reference_trades(frame, path, cash)
    got = run.trades["s"]
    same_bar = list(ref.index[ref["EntryBar"] == ref["ExitBar"]])
    assert same_bar, "no exit in an entry bar: the case proves nothing"
    assert len(got) == len(ref) > 50
    assert_same_trades(got.drop(index=same_bar), ref.drop(index=same_bar))
    for i in same_bar:
        entry = ["Size", "EntryBar", "EntryPrice"]
        assert got.loc[i, entry].tolist() == ref.loc[i, entry].tolist()
        assert got.loc[i, "ExitBar"] > got.loc[i, "EntryBar"]  # the OCO was not there yet
    assert run.account_qty == run.books_qty() and run.orphans == 0


def test_market_brackets_equal_backtest_run_with_exits_in_the_entry_bar(tmp_path):
    """Market entries with SL/TP go to Alpaca as brackets; their legs fill in the entry bar
    as backtesting.py's do (it reprocesses them): the entry's fill and its leg's arrive in one
    poll, and the books apply the entry first. Every trade is exact."""
    frame, cash = synthetic(300), 10_000.0
    path = STRATEGIES / "units_market_bracket.py"
    run = Replayed(tmp_path, frame, [StrategySpec(path, "s", 1.0)], cash)
    stats, ref = reference_trades(frame, path, cash)
    assert (ref["EntryBar"] == ref["ExitBar"]).sum() > 5, "too few exits in an entry bar"
    assert_same_trades(run.trades["s"], ref)
    assert_same_equity(run.books["s"], stats)
    assert run.account_qty == run.books_qty() and run.orphans == 0


@pytest.mark.xfail(
    strict=True,
    reason="the account and the books now stay equal, but the trades differ (63 replayed, 87 "
    "in Backtest.run): with Alpaca's held-shares rule on, 39 sells are refused ('insufficient "
    "qty available') because working exits hold the shares; not investigated further",
)
def test_entries_netting_against_bracketed_trades_keep_account_and_books_equal(tmp_path):
    frame, cash = synthetic(400), 10_000.0
    path = STRATEGIES / "units_random.py"
    run = Replayed(tmp_path, frame, [StrategySpec(path, "s", 1.0)], cash)
    _, ref = reference_trades(frame, path, cash)
    assert_same_trades(run.trades["s"], ref)
    assert run.account_qty == run.books_qty()


def test_fraction_sizes_are_computed_from_the_last_close(tmp_path):
    """``buy(size=0.5)``: a real broker needs units when the order is sent, so they are
    floor(0.5 * equity / last close); Backtest.run sizes at the fill, floor(0.5 * equity / next
    open). Entry and exit bars and prices are the same; the units are as predicted."""
    frame, cash = synthetic(400), 10_000.0
    path = STRATEGIES / "fraction_sma.py"
    run = Replayed(tmp_path, frame, [StrategySpec(path, "s", 1.0)], cash)
    got = run.trades["s"]
    _, ref = reference_trades(frame, path, cash)
    assert len(got) == len(ref) > 3
    for column in ("EntryBar", "ExitBar", "EntryPrice", "ExitPrice"):
        assert np.array_equal(got[column].to_numpy(float), ref[column].to_numpy(float)), column
    closes, opens = frame["Close"].to_numpy(), frame["Open"].to_numpy()
    for trades in (got, ref):
        equity = cash
        for _, trade in trades.iterrows():
            signal = int(trade["EntryBar"]) - 1
            price = closes[signal] if trades is got else opens[signal + 1]
            units = math.floor(equity * 0.5 / price) if trades is got else (equity * 0.5) // price
            assert trade["Size"] == units, (trades is got, signal)
            equity += trade["PnL"]
    differ = int((got["Size"].to_numpy() != ref["Size"].to_numpy()).sum())
    assert differ > 0, "the data never moves between a close and the next open enough to show it"
    assert run.account_qty == run.books_qty() and run.orphans == 0
