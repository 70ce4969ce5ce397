"""The portfolio's per-bar work follows what is open, not the ledger's history."""

from __future__ import annotations

from pathlib import Path

import pytest
from backtesting import backtesting
from backtesting.test import GOOG
from stratequeue.app import App, RunConfig
from stratequeue.portfolio.config import StrategySpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
FILLS_BY_ORDER = "FROM fills WHERE client_order_id"


def replay(tmp_path: Path, watch_sql: list[str] | None = None) -> App:
    """A finished paper replay of the SMA crossover over 400 GOOG bars."""
    csv = tmp_path / "GOOG.csv"
    GOOG.iloc[:400].to_csv(csv)
    config = RunConfig(
        strategies=[StrategySpec(EXAMPLES / "sma.py", "sma", 1.0)],
        symbols=["GOOG"],
        data_source="csv",
        granularity="1d",
        broker="paper",
        lookback=30,
        db=tmp_path / "ledger.sqlite",
        data_options={"path": str(csv)},
        replay=True,
    )
    app = App(config, None, show_events=False)
    app.build()
    if watch_sql is not None:
        app.ledger.db.set_trace_callback(watch_sql.append)
    app.confirm()
    app.start()
    app.run()
    app.ledger.db.set_trace_callback(None)
    app.close("feed ended")
    return app


def test_a_filled_book_order_ends_without_scanning_the_fills_table(tmp_path: Path) -> None:
    """The fills table is not indexed by order: asking it whether an order that just ended
    was filled reads every fill the ledger ever booked. An order whose fill the same bar
    booked ends without asking (the SMA crossover's market orders all fill)."""
    statements: list[str] = []
    replay(tmp_path, statements)
    ended = [s for s in statements if "UPDATE orders SET status" in s and "'filled'" in s]
    assert ended, "the run must end filled orders for this test to mean anything"
    assert [s for s in statements if FILLS_BY_ORDER in s] == []


def test_the_summary_reads_each_closed_trade_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The display asks for the strategy summary after every bar: its trade count and win rate
    read the trades closed since the last ask, not every trade the run ever closed."""
    app = replay(tmp_path)
    first = app.portfolio.strategy_summary()
    assert first[0]["trades"] > 5, "the run must close trades for this test to mean anything"
    reads = 0
    pl = backtesting.Trade.pl

    def counted(trade: backtesting.Trade) -> float:
        nonlocal reads
        reads += 1
        return float(pl.fget(trade))  # type: ignore[attr-defined]

    monkeypatch.setattr(backtesting.Trade, "pl", property(counted))
    assert app.portfolio.strategy_summary() == first
    assert reads == 0
