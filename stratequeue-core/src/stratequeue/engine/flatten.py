"""Starting flat after a warm-up: a live run places no orders for the past, so trades the
strategy's backtest would still hold after its history are dropped from its book."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from .book import ref_of

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "add_capital",
    "close_now",
    "close_positions",
    "drop_order",
    "flatten_inherited",
    "set_units",
]


def _in_worker(fn: F) -> F:
    """A runner kept in a worker process (``stratequeue.executors``) is changed there: its
    stand-in forwards the call by name."""

    @functools.wraps(fn)
    def call(runner: Any, *args: Any) -> Any:
        remote = getattr(runner, "remote", None)
        return remote(fn.__name__, *args) if remote is not None else fn(runner, *args)

    return call  # type: ignore[return-value]


@_in_worker
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


@_in_worker
def add_capital(runner: Any, delta: float) -> None:
    """Give the book ``delta`` more cash (negative: take it away): an allocation change."""
    runner._broker._cash += delta


@_in_worker
def close_positions(runner: Any) -> None:
    """Ask the book to close every open trade at the next bar (``--rebalance close``)."""
    for trade in list(runner._broker.trades):
        trade.close()
    runner._tracker.label(list(runner._broker.orders), runner._new_ref)


@_in_worker
def drop_order(runner: Any, ref: str) -> bool:
    """Remove a pending order from the book without a fill (a risk rule refused it)."""
    for order in list(runner._broker.orders):
        if ref_of(order) == ref:
            order.cancel()
            runner._tracker.forget(ref)
            return True
    return False


@_in_worker
def close_now(runner: Any, price: float, ref: str) -> list[Any]:
    """Close every open trade of the book at (real) ``price`` now (``--on-exit flatten`` when
    no bar will follow): the executions, each caused by order ``ref``."""
    from dataclasses import replace

    broker = runner._broker
    if broker is None or not broker.trades:
        return []
    index = len(runner._data) - 1
    for trade in list(broker.trades):
        broker._close_trade(trade, runner.units.book_price(price), index)
    return [replace(e, order_ref=ref) for e in runner._executions(broker.take_events())]


@_in_worker
def set_units(runner: Any, ref: str, qty: float) -> bool:
    """A fraction-sized order was sent to a real broker as the quantity ``qty``: the book
    holds it as that many units (of its fractional unit, if any) from now on, so that partial
    fills reduce it as backtesting.py reduces a unit order (a fraction order would be complete
    after its first fill). False when that is less than one unit (it stays a fraction)."""
    units = runner.units.to_units(qty)
    if abs(units) < 1:
        return False
    for order in runner._broker.orders:
        if ref_of(order) == ref:
            order._replace(size=units)
            runner._tracker.forget_changes(order)
            return True
    return False
