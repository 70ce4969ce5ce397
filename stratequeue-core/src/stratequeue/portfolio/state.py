"""What the portfolio holds between bars, and the batch of work one bar hands the broker.

A *sleeve* is one strategy on one symbol: one runner whose backtesting.py book holds that
strategy's capital for that symbol. An *open order* is a broker order still working, with the
(sleeve, order ref) legs it carries. :class:`Actions` collects what the broker must be told
once a bar's ledger transaction has committed (write-ahead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..models import BrokerOrder, Fill, IntentAction, OrderIntent, OrderStatus, OrderType, Side, utc

if TYPE_CHECKING:
    from ..ledger import Ledger

__all__ = [
    "ADOPTED",
    "Actions",
    "BookFill",
    "ClosedTally",
    "ExitStep",
    "OpenOrder",
    "Sleeve",
    "avg_price",
    "book_intent",
    "oco_leg",
    "order_from_row",
    "pending_refs",
    "real_status",
    "record_trade",
    "to_utc",
]

#: The execution id suffix of a trade adopted from a replay's warm-up.
ADOPTED = "-adopted"


@dataclass
class ClosedTally:
    """A book's closed trades since its warm-up: how many were read, how many won."""

    start: int = -1  # the ``closed_before`` they were counted from
    seen: int = 0  # closed trades read (from ``start``)
    wins: int = 0


@dataclass
class Sleeve:
    """One strategy on one symbol: its runner (book) and its orders at the broker."""

    spec: Any  # StrategySpec
    symbol: str
    runner: Any  # stratequeue.engine.StrategyRunner
    capital: float
    cids: dict[str, str] = field(default_factory=dict)  # order ref -> client order id
    closed_before: int = 0  # trades the book closed during its warm-up (not real)
    #: the book's closed trades counted so far, for the summary (summary.py)
    tally: ClosedTally = field(default_factory=lambda: ClosedTally(), repr=False)

    @property
    def strategy_id(self) -> str:
        return str(self.spec.strategy_id)


@dataclass
class OpenOrder:
    cid: str
    symbol: str
    legs: list[tuple[Sleeve, str]]  # (sleeve, order ref)


@dataclass
class ExitStep:
    """Executions made outside a bar (flattening at exit), shaped like a runner's BarStep."""

    executions: list[Any]
    intents: list[OrderIntent] = field(default_factory=list)


@dataclass
class BookFill:
    """A fill decided by the books, committed to the ledger, to be booked at the broker."""

    fill: Fill
    signed_qty: float
    cash_flow: float


@dataclass
class Actions:
    """What the broker must be told once the bar's ledger transaction has committed."""

    orders: list[BrokerOrder] = field(default_factory=list)
    fills: list[BookFill] = field(default_factory=list)
    finished: list[tuple[str, bool]] = field(default_factory=list)  # (cid, filled)
    cancels: list[str] = field(default_factory=list)  # cids to cancel at the broker
    #: (cid, limit, stop): working orders to replace at the broker with new prices
    replaces: list[tuple[str, float | None, float | None]] = field(default_factory=list)


def order_from_row(row: dict[str, Any]) -> BrokerOrder:
    """A committed order as the ledger holds it, to send (again) under its client order id."""
    return BrokerOrder(
        row["client_order_id"],
        row["symbol"],
        Side(row["side"]),
        row["qty"],
        OrderType(row["order_type"]),
        row["limit_price"],
        row["stop_price"],
        row["notional"],
        row["time_in_force"] or "day",
        take_profit=row["take_profit"],
        stop_loss=row["stop_loss"],
        order_class=row["order_class"],
    )


def oco_leg(row: dict[str, Any], price: float) -> str:
    """Which leg of an OCO exit filled, from the fill price: the take-profit limit fills at its
    price or better, the stop at its price or worse. '' for other orders."""
    if row.get("order_class") != "oco":
        return ""
    limit = row["take_profit"] or row["limit_price"]
    better = price >= limit - 1e-9 if row["side"] == Side.SELL.value else price <= limit + 1e-9
    return "/tp" if better else "/sl"


def pending_refs(runner: Any) -> set[str | None]:
    from ..engine.book import ref_of

    return {ref_of(order) for order in runner.orders}


def avg_price(runner: Any) -> float | None:
    trades = list(runner.open_trades)
    size = sum(t.size for t in trades)
    if not size:
        return None
    return float(runner.units.price(sum(t.size * t.entry_price for t in trades) / size))


def to_utc(value: Any) -> datetime:
    return utc(value.to_pydatetime() if hasattr(value, "to_pydatetime") else value)


def book_intent(sleeve: Sleeve, ref: str) -> OrderIntent | None:
    """The book's pending order ``ref`` as it stands now, as a NEW intent."""
    from ..engine.book import ref_of

    for order in sleeve.runner.orders:
        if ref_of(order) == ref:
            kind = (
                OrderType.STOP
                if order.stop is not None
                else (OrderType.LIMIT if order.limit is not None else OrderType.MARKET)
            )
            return OrderIntent(
                sleeve.strategy_id,
                sleeve.symbol,
                datetime.now(UTC),
                ref,
                IntentAction.NEW,
                order.size,
                kind,
                sleeve.runner.units.price(order.limit),
                sleeve.runner.units.price(order.stop),
                parent_ref="trade" if order.parent_trade is not None else None,
            )
    return None


def real_status(status: OrderStatus) -> OrderStatus:
    """With a real broker an order becomes (partially) filled in the ledger only through its
    fills, which arrive on their own: an answer saying 'filled' keeps it open until then, so a
    fill that arrives late (or while StrateQueue is down) is still applied."""
    if status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
        return OrderStatus.ACCEPTED
    return status


def record_trade(ledger: Ledger, sleeve: Sleeve, e: Any) -> None:
    """A book's execution opened or closed a trade: the ledger's trade table follows."""
    if e.kind == "open":
        ledger.open_trade(
            sleeve.strategy_id,
            sleeve.symbol,
            e.trade_ref,
            e.size,
            e.bar_index,
            e.price,
            e.time,
            e.sl,
            e.tp,
            e.tag,
        )
    else:
        ledger.close_trade(
            sleeve.strategy_id,
            sleeve.symbol,
            e.trade_ref,
            size=e.size,
            entry_bar=e.entry_bar,
            exit_bar=e.bar_index,
            entry_price=e.entry_price,
            exit_price=e.price,
            sl=e.sl,
            tp=e.tp,
            pnl=e.pnl,
            commission=e.trade_commission,
            return_pct=e.return_pct,
            entry_time=e.entry_time,
            exit_time=e.time,
            tag=e.tag,
        )
