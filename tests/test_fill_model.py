"""The portfolio picks its fill model once, from the broker it is built with."""

from __future__ import annotations

from pathlib import Path

import pytest
from stratequeue.brokers.base import BaseBroker, BrokerConfig
from stratequeue.brokers.paper import PaperBroker
from stratequeue.ledger import Ledger
from stratequeue.portfolio import Portfolio
from stratequeue.portfolio.book_fills import BookFills
from stratequeue.portfolio.broker_fills import BrokerFills
from stratequeue_alpaca.broker import AlpacaBroker


@pytest.mark.parametrize(
    ("kind", "model"),
    [("paper", BookFills), ("signals only", BookFills), ("alpaca", BrokerFills)],
)
def test_each_broker_kind_gets_its_fill_model(tmp_path: Path, kind: str, model: type) -> None:
    """Book-priced (paper, replay) and signals-only runs fill from the books; a broker that
    reports its own fills (Alpaca) gets the real-fill model, and only it sends quantities."""
    broker: BaseBroker | None = {
        "paper": lambda: PaperBroker(),
        "signals only": lambda: None,
        "alpaca": lambda: AlpacaBroker(BrokerConfig("alpaca")),  # not connected: never called
    }[kind]()
    portfolio = Portfolio(ledger=Ledger(tmp_path / "ledger.sqlite"), broker=broker, run_id=1)
    assert type(portfolio.fills) is model
    assert portfolio.external is (model is BrokerFills)
