"""Fractional units: ``stratequeue replay --fractional-unit X`` equals
``backtesting.lib.FractionalBacktest(df, S, fractional_unit=X).run()`` trade for trade, exactly;
the unit can also come from the strategy file (``FRACTIONAL_UNIT``) or strategies.txt."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtesting.lib import FractionalBacktest
from backtesting.test import BTCUSD
from stratequeue.cli import main
from stratequeue.engine import BacktestOptions, StrategyRunner, load_strategy
from stratequeue.errors import StrategyLoadError, UsageError
from stratequeue.models import Bar
from stratequeue.portfolio.config import parse_strategies_file

FILES = Path(__file__).parent / "engine" / "strategy_files"
SMA = FILES / "sma_cross.py"
BRACKET = FILES / "bracket_breakout.py"
COLUMNS = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "SL", "TP", "PnL"]
COLUMNS += ["Commission", "ReturnPct"]


def btc_like(n: int = 600, seed: int = 11) -> pd.DataFrame:
    """Deterministic hourly bars around $60,000 (a random walk, 0.6% per bar)."""
    rng = np.random.default_rng(seed)
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = close * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, n)))
    index = pd.date_range("2024-03-01", periods=n, freq="h", tz="UTC")
    volume = rng.uniform(5, 50, n)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index
    )


DATA = {"BTCUSD": BTCUSD.tz_localize("UTC"), "BTC60K": btc_like()}


def fractional(frame: pd.DataFrame, path: Path, cash: float, unit: float) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = FractionalBacktest(
            frame, load_strategy(path).cls, fractional_unit=unit, cash=cash, finalize_trades=False
        ).run()
    return stats._trades.reset_index(drop=True)


def replayed(tmp_path: Path, frame: pd.DataFrame, cash: float, *args: str) -> pd.DataFrame:
    csv, out = tmp_path / "BTCUSD.csv", tmp_path / "trades.csv"
    frame.to_csv(csv)
    main(["replay", "--data", str(csv), "--cash", str(cash), "--trades-out", str(out), *args])
    got = pd.read_csv(out)
    got = got[got["ExitBar"].notna()].reset_index(drop=True)
    return got


def assert_exact(got: pd.DataFrame, ref: pd.DataFrame, frame: pd.DataFrame) -> None:
    """Exactly FractionalBacktest's trades: every value bit for bit, the same bar times."""
    assert len(ref) > 0, "the case makes no trade: it proves nothing"
    assert len(got) == len(ref), f"{len(got)} trades replayed, {len(ref)} in FractionalBacktest"
    pd.testing.assert_frame_equal(
        got[COLUMNS].astype(float), ref[COLUMNS].astype(float), check_exact=True
    )
    for side in ("Entry", "Exit"):
        times = pd.to_datetime(got[f"{side}Time"], utc=True, format="ISO8601")
        assert (times.to_numpy() == frame.index[ref[f"{side}Bar"]].to_numpy()).all(), side


CASES = [
    (SMA, "BTCUSD", 1_000.0, 1e-8),
    (SMA, "BTC60K", 1_000.0, 1e-5),
    (SMA, "BTC60K", 13_000.0, 1e-3),
    (BRACKET, "BTCUSD", 13_000.0, 1e-8),
    (BRACKET, "BTC60K", 1_000.0, 1e-5),
    (BRACKET, "BTC60K", 13_000.0, 1e-3),
]


@pytest.mark.parametrize(
    ("path", "data", "cash", "unit"),
    CASES,
    ids=[f"{p.stem}-{d}-{c:g}-{u:g}" for p, d, c, u in CASES],
)
def test_replay_equals_fractional_backtest(tmp_path, path, data, cash, unit):
    frame = DATA[data]
    ref = fractional(frame, path, cash, unit)
    got = replayed(tmp_path, frame, cash, "--strategy", str(path), "--fractional-unit", repr(unit))
    assert_exact(got, ref, frame)


def test_without_a_unit_a_small_sleeve_cannot_buy_one_btc(tmp_path):
    """The old behaviour stays: whole units, so $1,000 buys nothing at $60,000."""
    frame = DATA["BTC60K"]
    out = tmp_path / "trades.csv"
    frame.to_csv(tmp_path / "BTCUSD.csv")
    main(
        ["replay", "--data", str(tmp_path / "BTCUSD.csv"), "--cash", "1000"]
        + ["--strategy", str(SMA), "--trades-out", str(out)]
    )
    assert pd.read_csv(out).empty


def test_unit_from_the_strategy_file_and_from_strategies_txt(tmp_path):
    frame = DATA["BTC60K"]
    ref = fractional(frame, SMA, 1_000.0, 1e-5)
    with_constant = tmp_path / "sma_frac.py"
    with_constant.write_text(SMA.read_text() + "\nFRACTIONAL_UNIT = 1e-5\n")
    (tmp_path / "a").mkdir()
    assert_exact(
        replayed(tmp_path / "a", frame, 1_000.0, "--strategy", str(with_constant)), ref, frame
    )

    # strategies.txt's column wins over the file's constant (here a wrong one)
    wrong = tmp_path / "sma_wrong.py"
    wrong.write_text(SMA.read_text() + "\nFRACTIONAL_UNIT = 1e-3\n")
    config = tmp_path / "strategies.txt"
    config.write_text("sma_wrong.py,sma,1.0,1e-5\n")
    (tmp_path / "b").mkdir()
    assert_exact(replayed(tmp_path / "b", frame, 1_000.0, "--strategies", str(config)), ref, frame)


def test_the_strategy_sees_what_it_sees_in_fractional_backtest():
    """Prices per unit in ``self.data``, whole units in ``self.position``."""
    frame, unit = DATA["BTC60K"], 1e-5
    seen: dict[str, list[float]] = {"close": [], "position": []}

    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA as sma

    class Spy(Strategy):
        def init(self):
            self.a = self.I(sma, self.data.Close, 5)
            self.b = self.I(sma, self.data.Close, 15)

        def next(self):
            seen["close"].append(float(self.data.Close[-1]))
            seen["position"].append(float(self.position.size))
            if crossover(self.a, self.b):
                self.position.close()
                self.buy(size=700)
            elif crossover(self.b, self.a):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        FractionalBacktest(
            frame, Spy, fractional_unit=unit, cash=1_000, finalize_trades=False
        ).run()
    expected = {k: list(v) for k, v in seen.items()}
    seen["close"].clear()
    seen["position"].clear()
    runner = StrategyRunner(
        Spy,
        strategy_id="spy",
        symbol="BTCUSD",
        options=BacktestOptions(1_000, fractional_unit=unit),
    )
    for t, row in frame.iterrows():
        runner.on_bar(
            Bar("BTCUSD", t.to_pydatetime(), row.Open, row.High, row.Low, row.Close, row.Volume)
        )
    assert seen == expected
    assert max(expected["position"]) == 700
    assert runner.position_size in (0, 700 * unit)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("sma_cross.py,s,0.5,abc", "fractional unit 'abc' is not a number"),
        ("sma_cross.py,s,0.5,0", "must be greater than 0 and at most 1"),
        ("sma_cross.py,s,0.5,2", "must be greater than 0 and at most 1"),
        ("sma_cross.py,s,0.5,1e-8,x", "optionally ',fractional_unit'"),
    ],
)
def test_strategies_txt_unit_errors_are_one_line(tmp_path, line, message):
    config = tmp_path / "strategies.txt"
    config.write_text(line + "\n")
    (tmp_path / "sma_cross.py").write_text(SMA.read_text())
    with pytest.raises(UsageError, match="line 1") as err:
        parse_strategies_file(config)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_strategies_txt_unit_column_is_optional(tmp_path):
    (tmp_path / "sma_cross.py").write_text(SMA.read_text())
    config = tmp_path / "strategies.txt"
    config.write_text("sma_cross.py,a,0.5\nsma_cross.py,b,0.5,1e-8\n")
    specs = parse_strategies_file(config)
    assert [s.fractional_unit for s in specs] == [None, 1e-8]


def test_bad_unit_in_the_file_and_on_the_command_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(SMA.read_text() + "\nFRACTIONAL_UNIT = -1\n")
    with pytest.raises(StrategyLoadError, match="FRACTIONAL_UNIT"):
        load_strategy(bad)
    frame = DATA["BTC60K"]
    frame.to_csv(tmp_path / "BTCUSD.csv")
    with pytest.raises(SystemExit) as exit_:
        main(
            ["replay", "--data", str(tmp_path / "BTCUSD.csv"), "--strategy", str(SMA)]
            + ["--fractional-unit", "nope"]
        )
    assert exit_.value.code != 0


def test_the_paper_ledger_holds_real_quantities_and_prices(tmp_path):
    """Fills, orders and trades in the ledger are BTC and dollars, not units and unit prices."""
    import sqlite3

    frame, unit = DATA["BTC60K"], 1e-5
    db = tmp_path / "ledger.sqlite"
    ref = fractional(frame, SMA, 1_000.0, unit)
    replayed(
        tmp_path, frame, 1_000.0, "--strategy", str(SMA), "--fractional-unit", "1e-5",
        "--db", str(db),
    )  # fmt: skip
    con = sqlite3.connect(db)
    try:
        fills = con.execute("SELECT qty, price FROM fills ORDER BY rowid").fetchall()
        sizes = [s for (s,) in con.execute("SELECT size FROM trades ORDER BY rowid")]
    finally:
        con.close()
    entries = ref["EntryPrice"].tolist()
    assert fills and all(0 < qty < 1 for qty, _ in fills), fills[:3]
    assert all(40_000 < price < 90_000 for _, price in fills), fills[:3]
    assert sizes[: len(ref)] == ref["Size"].tolist()
    assert fills[0][1] == entries[0]


def test_a_restart_with_another_unit_is_refused(tmp_path, capsys):
    """The books in a ledger are kept in the unit they were traded in; another unit would read
    every recorded quantity at the wrong scale."""
    db = tmp_path / "ledger.sqlite"
    frame = DATA["BTC60K"].iloc[:150]
    args = ["--strategy", str(SMA), "--db", str(db)]
    replayed(tmp_path, frame, 1_000.0, *args, "--fractional-unit", "1e-5")
    with pytest.raises(SystemExit) as exit_:
        replayed(tmp_path, frame, 1_000.0, *args, "--fractional-unit", "0.001")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "fractional unit 1e-05; this run asks for 0.001" in err
    assert "Traceback" not in err
