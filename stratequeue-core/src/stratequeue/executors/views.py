"""What the portfolio reads of a runner that lives in a worker: a small view, sent with each
result, and the main-process stand-in (:class:`RemoteRunner`) that answers from it.

The portfolio reads a runner's equity, cash, position, pending orders, open and closed trades,
fractional unit and (a real broker's run) buying power (``sleeve.runner.*``); between bars it
changes a book only through :mod:`stratequeue.engine.flatten`'s functions and, with a broker
that reports its own fills, ``apply_fill`` / ``cancel_order``: a :class:`RemoteRunner`
forwards each to its worker (:data:`RUNNER_CALLS`).
Closed trades only grow, so a view carries the ones closed since the last view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.book import REF_ATTR, ref_of

__all__ = ["RUNNER_CALLS", "RemoteRunner", "RunnerView", "TradeView", "OrderView", "view_of"]

#: the runner's own methods a RemoteRunner forwards (the rest are flatten functions)
RUNNER_CALLS = frozenset({"apply_fill", "cancel_order"})


class TradeView:
    """A book trade as the portfolio reads it: ref, size, entry price, P&L."""

    __slots__ = ("size", "entry_price", "pl", REF_ATTR)

    def __init__(self, ref: str | None, size: float, entry_price: float, pl: float) -> None:
        setattr(self, REF_ATTR, ref)
        self.size, self.entry_price, self.pl = size, entry_price, pl


class OrderView:
    """A pending book order as the portfolio reads it."""

    __slots__ = ("size", "limit", "stop", "sl", "tp", "is_contingent", "parent_trade", REF_ATTR)

    def __init__(self, order: Any, trades: dict[int, TradeView]) -> None:
        setattr(self, REF_ATTR, ref_of(order))
        self.size, self.limit, self.stop = order.size, order.limit, order.stop
        self.sl, self.tp = order.sl, order.tp
        self.is_contingent = order.is_contingent
        parent = order.parent_trade
        self.parent_trade = trades.get(id(parent)) if parent is not None else None


@dataclass
class RunnerView:
    equity: float
    cash: float
    position_size: float
    bar_count: int
    stopped: bool
    open_trades: tuple[TradeView, ...]
    orders: tuple[OrderView, ...]
    closed_new: list[TradeView] = field(default_factory=list)
    units: Any = None
    #: only with external fills (the real broker's quantity of a fraction-sized order)
    buying_power: float | None = None


def _trade(t: Any) -> TradeView:
    return TradeView(ref_of(t), t.size, t.entry_price, float(t.pl))


def view_of(runner: Any, closed_seen: int) -> RunnerView:
    """``runner``'s view, with its trades closed after the first ``closed_seen``."""
    open_trades = {id(t): _trade(t) for t in runner.open_trades}
    closed = runner.closed_trades
    return RunnerView(
        equity=float(runner.equity),
        cash=float(runner.cash),
        position_size=float(runner.position_size),
        bar_count=runner.bar_count,
        stopped=runner.stopped,
        open_trades=tuple(open_trades.values()),
        orders=tuple(OrderView(o, open_trades) for o in runner.orders),
        closed_new=[_trade(t) for t in closed[closed_seen:]],
        units=runner.units,
        buying_power=runner.buying_power if runner.fills == "external" else None,
    )


class RemoteRunner:
    """Stands in a sleeve for a runner that lives in a worker. ``remote(name, *args)`` runs a
    :mod:`stratequeue.engine.flatten` function on it there and returns its result, refreshing
    the view."""

    def __init__(
        self,
        key: tuple[str, str],
        strategy_id: str,
        symbol: str,
        view: RunnerView,
        closed: list[TradeView],
        call: Callable[..., Any],
    ) -> None:
        self.key = key
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.units = view.units
        self.closed_trades: list[TradeView] = closed
        self.view = view
        self._call = call

    def update(self, view: RunnerView) -> None:
        self.closed_trades.extend(view.closed_new)
        view.closed_new = []
        self.view = view
        self.units = view.units

    def remote(self, name: str, *args: Any) -> Any:
        return self._call(self, name, args)

    def apply_fill(self, order_ref: str, qty: float, price: float, time: Any = None) -> Any:
        """``StrategyRunner.apply_fill`` in the worker (a real broker's fill)."""
        return self.remote("apply_fill", order_ref, qty, price, time)

    def cancel_order(self, order_ref: str, reason: str = "") -> None:
        """``StrategyRunner.cancel_order`` in the worker (the broker rejected or canceled it)."""
        self.remote("cancel_order", order_ref, reason)

    # -- what the portfolio reads -----------------------------------------------------------
    @property
    def equity(self) -> float:
        return self.view.equity

    @property
    def cash(self) -> float:
        return self.view.cash

    @property
    def position_size(self) -> float:
        return self.view.position_size

    @property
    def bar_count(self) -> int:
        return self.view.bar_count

    @property
    def stopped(self) -> bool:
        return self.view.stopped

    @property
    def orders(self) -> tuple[OrderView, ...]:
        return self.view.orders

    @property
    def buying_power(self) -> float:
        if self.view.buying_power is None:
            raise AttributeError("buying_power: only a runner with external fills reports it")
        return self.view.buying_power

    @property
    def open_trades(self) -> tuple[TradeView, ...]:
        return self.view.open_trades
