"""Starting flat after a warm-up: a live run places no orders for the past, so trades the
strategy's backtest would still hold after its history are dropped from its book."""

from __future__ import annotations

from typing import Any

from .book import ref_of

__all__ = ["add_capital", "close_positions", "flatten_inherited"]


def flatten_inherited(runner: Any) -> set[str]:
    """Drop the trades inherited from the warm-up (and their SL/TP orders) from ``runner``'s
    book and give it back its starting cash, as if it had been flat. Returns the refs of the
    orders removed, so that they are not sent."""
    broker = runner._broker
    dropped: set[str] = set()
    for trade in list(broker.trades):
        for order in (trade._sl_order, trade._tp_order):
            if order is not None and order in broker.orders:
                broker.orders.remove(order)
                ref = ref_of(order)
                if ref is not None:
                    dropped.add(ref)
                    runner._tracker.forget(ref)
        broker.trades.remove(trade)
    for order in list(broker.orders):  # Trade.close() orders of dropped trades
        if order.parent_trade is not None:
            broker.orders.remove(order)
            ref = ref_of(order)
            if ref is not None:
                dropped.add(ref)
                runner._tracker.forget(ref)
    broker._trades_cache_clear()
    broker._cash = runner.options.cash
    runner.inherited_trades = ()
    return dropped


def add_capital(runner: Any, delta: float) -> None:
    """Give the book ``delta`` more cash (negative: take it away): an allocation change."""
    runner._broker._cash += delta


def close_positions(runner: Any) -> None:
    """Ask the book to close every open trade at the next bar (``--rebalance close``)."""
    for trade in list(runner._broker.trades):
        trade.close()
