"""The portfolio's per-bar work follows what is open, not the ledger's history."""

from __future__ import annotations

from pathlib import Path

import pytest
from backtesting import backtesting
from backtesting.test import GOOG
from stratequeue.portfolio.config import StrategySpec
from stratequeue.trader import RunConfig, Trader

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
FILLS_BY_ORDER = "FROM fills WHERE client_order_id"


def replay(tmp_path: Path, watch_sql: list[str] | None = None) -> Trader:
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
    trader = Trader(config, None, show_events=False)
    trader.build()
    assert trader.ledger is not None
    if watch_sql is not None:
        trader.ledger.db.set_trace_callback(watch_sql.append)
    trader.start()
    trader.run()
    trader.ledger.db.set_trace_callback(None)
    trader.close("feed ended")
    return trader


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
    trader = replay(tmp_path)
    assert trader.portfolio is not None
    first = trader.portfolio.strategy_summary()
    assert first[0]["trades"] > 5, "the run must close trades for this test to mean anything"
    reads = 0
    pl = backtesting.Trade.pl

    def counted(trade: backtesting.Trade) -> float:
        nonlocal reads
        reads += 1
        return float(pl.fget(trade))  # type: ignore[attr-defined]

    monkeypatch.setattr(backtesting.Trade, "pl", property(counted))
    assert trader.portfolio.strategy_summary() == first
    assert reads == 0
