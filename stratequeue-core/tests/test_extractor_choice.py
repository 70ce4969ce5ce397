"""Choosing the signal extractor (``--extractor``, ``RunConfig.extractor``): the chosen one
loads every strategy file and makes every runner; the ledger keeps its name per run; an
unknown name or an extractor breaking the contract is one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import Strategy
from stratequeue import hookimpl, plugins
from stratequeue.app import App, RunConfig
from stratequeue.cli import main
from stratequeue.engine import BacktestingExtractor, LoadedStrategy
from stratequeue.errors import PluginError, UsageError
from stratequeue.portfolio.config import StrategySpec

BURST = Path(__file__).parent / "portfolio_files" / "burst.py"  # 3 limit orders every bar


class BuyOnSecondBar(Strategy):
    def init(self) -> None:
        pass

    def next(self) -> None:
        if len(self.data) == 2:
            self.buy(size=3)


class FixedExtractor(BacktestingExtractor):
    """Whatever the file, the strategy is BuyOnSecondBar: its orders show it was used."""

    name = "fixed"

    def load(self, path: str | Path) -> LoadedStrategy:
        return LoadedStrategy(BuyOnSecondBar, Path(path), None, "BuyOnSecondBar")


class BrokenExtractor(BacktestingExtractor):
    name = "broken"

    def runner(self, loaded: Any, **options: Any) -> Any:  # type: ignore[override]
        return object()


class _Plugin:
    @hookimpl
    def register_signal_extractors(self, register: Any) -> None:
        register("fixed", FixedExtractor)
        register("broken", BrokenExtractor)


@pytest.fixture(autouse=True)
def _plugin() -> None:
    plugins.register_plugin(_Plugin(), name="test-extractors")


def write_bars(path: Path, n: int = 8) -> Path:
    close = 100.0 + np.arange(n, dtype=float)
    frame = pd.DataFrame(
        {"Open": close - 0.5, "High": close + 1, "Low": close - 1, "Close": close, "Volume": 1e3},
        index=pd.date_range("2023-01-02", periods=n, freq="D", name="Date"),
    )
    frame.to_csv(path)
    return path


def replay(tmp_path: Path, **changes: Any) -> sqlite3.Connection:
    db = tmp_path / "ledger.sqlite"
    config = RunConfig(
        strategies=[StrategySpec(BURST, "burst", 1.0)],
        symbols=["SYNTH"],
        data_source="csv",
        granularity="1d",
        broker="paper",
        lookback=0,
        db=db,
        data_options={"path": str(write_bars(tmp_path / "bars.csv"))},
        replay=True,
        stale_after=0,
        **changes,
    )
    with App(config, show_events=False) as app:
        app.execute()
    return sqlite3.connect(db)


def test_the_chosen_extractor_makes_the_runners_and_the_run_record_names_it(tmp_path):
    con = replay(tmp_path, extractor="fixed")
    # BuyOnSecondBar's one market order (bar 2, filled at bar 3's open), not burst.py's limits
    orders = con.execute(
        "SELECT o.side, o.order_type, o.status, f.qty, f.price, f.ts "
        "FROM orders o JOIN fills f USING (client_order_id)"
    ).fetchall()
    assert orders == [("buy", "market", "filled", 3.0, 101.5, "2023-01-04T00:00:00+00:00")]
    assert con.execute("SELECT extractor FROM runs").fetchall() == [("fixed",)]


def test_the_default_is_backtesting_and_the_run_record_says_so(tmp_path):
    con = replay(tmp_path)
    assert con.execute("SELECT extractor FROM runs").fetchall() == [("backtesting",)]
    assert con.execute("SELECT count(*), min(order_type) FROM orders").fetchone() == (21, "limit")


def test_a_strategys_books_are_not_rebuilt_by_another_extractor(tmp_path):
    replay(tmp_path, extractor="fixed").close()
    with pytest.raises(UsageError) as err:
        replay(tmp_path)
    assert str(err.value) == (
        "Strategy 'burst' traded in this ledger with the signal extractor 'fixed'; this run asks "
        "for 'backtesting'. Run it with --extractor fixed, or start a new ledger with --db."
    )
    con = replay(tmp_path, extractor="fixed")  # the same one: its books are rebuilt
    assert con.execute("SELECT extractor FROM runs").fetchall() == [("fixed",), ("fixed",)]


def test_an_unknown_extractor_is_the_registrys_one_line_usage_error(tmp_path):
    with pytest.raises(PluginError) as err:
        replay(tmp_path, extractor="nope")
    assert str(err.value) == (
        "Unknown signal extractor 'nope'. Installed: backtesting, broken, fixed. "
        "Choose one with --extractor."
    )


@pytest.mark.parametrize("command", [["replay", "--data", "X.csv"], ["--symbols", "SYNTH"]])
def test_an_unknown_extractor_on_the_command_line_exits_2_with_one_line(tmp_path, capsys, command):
    args = [*command, "--strategy", str(BURST), "--extractor", "nope"]
    args += ["--db", str(tmp_path / "ledger.sqlite")]
    write_bars(tmp_path / "X.csv")
    with pytest.raises(SystemExit) as exit_:
        main([a.replace("X.csv", str(tmp_path / "X.csv")) for a in args])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "Error: Unknown signal extractor 'nope'. Installed: backtesting, broken, fixed. "
        "Choose one with --extractor."
    ]


def test_an_extractor_breaking_the_contract_is_one_line_naming_its_plugin(tmp_path):
    with pytest.raises(PluginError) as err:
        replay(tmp_path, extractor="broken")
    assert str(err.value) == (
        "Signal extractor 'broken' (plugin 'test-extractors'): runner() returned object, not a "
        "stratequeue.engine.StrategyRunner. Fix the plugin, or run with --extractor backtesting."
    )
