"""The book's fill events in the runner's terms: each as an :class:`~.types.Execution`
(order and trade refs, the trade's result when it closes), and the bar a real fill belongs to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from backtesting.backtesting import Trade

from ..models import utc
from .book import FillEvent, ref_of, set_ref
from .data import BarBuffer
from .types import Execution

__all__ = ["entry_time", "executions", "fill_bar"]


def executions(
    events: list[FillEvent],
    buffer: BarBuffer,
    new_ref: Callable[[], str],
    time: datetime | None = None,
) -> list[Execution]:
    """``events`` as executions; an order the book created (a trade's close) gets a ref from
    ``new_ref``. Each is stamped with ``time``, or else its bar's time."""
    out = []
    for ev in events:
        trade = ev.trade
        if ev.order is not None and ref_of(ev.order) is None:
            set_ref(ev.order, new_ref())
        order_ref = ref_of(ev.order) if ev.order is not None else "liquidation"
        when = time or buffer.utc_time(ev.time_index)
        if ev.kind == "open":
            trade._sq_entry_time = when  # type: ignore[attr-defined]  # its bar may be next
            out.append(
                Execution(
                    "open",
                    order_ref or "",
                    ref_of(trade) or "",
                    ev.size,
                    ev.price,
                    ev.time_index,
                    when,
                    ev.commission,
                    tag=trade.tag,
                )
            )
        else:
            out.append(
                Execution(
                    "close",
                    order_ref or "",
                    ref_of(trade) or "",
                    ev.size,
                    ev.price,
                    ev.time_index,
                    when,
                    ev.commission,
                    entry_price=trade.entry_price,
                    entry_bar=trade.entry_bar,
                    entry_time=entry_time(trade, buffer),
                    pnl=trade.pl,
                    sl=trade.sl,
                    tp=trade.tp,
                    tag=trade.tag,
                    trade_commission=trade._commissions,
                    return_pct=trade.pl_pct,
                )
            )
    return out


def entry_time(trade: Trade, buffer: BarBuffer) -> datetime:
    """A trade's entry time: its entry bar's, or (a real fill in the bar not yet seen) the
    time of the fill that opened it."""
    if trade.entry_bar < buffer.n:
        return buffer.utc_time(trade.entry_bar)
    return cast(datetime, trade._sq_entry_time)  # type: ignore[attr-defined]


def fill_bar(buffer: BarBuffer, time: datetime | None) -> int:
    """The bar index a real fill at ``time`` belongs to. A fill stamped after the last bar
    began happened in the NEXT bar, not yet in the buffer (an order sent at a bar's close
    fills at the next open): that bar is its trade's entry or exit bar, as in Backtest.run.
    A fill at the last bar's own time (crossed inside the account) or with no time belongs
    to the last bar."""
    last = buffer.n - 1
    if time is not None and buffer.n and utc(time) > buffer.utc_time(last):
        return buffer.n
    return last
