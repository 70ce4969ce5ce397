"""Start-of-run reconciliation: the ledger against the broker's whole state.

Run once per start, after a live run is confirmed and before the first new order:

1. **Executions** the broker reports since the previous run started (brokers with
   ``Capability.EXECUTIONS``) are booked, under the broker's own execution ids; one already
   booked (by id, or by the order's cumulative quantity when another source named it
   differently) is not booked again.
2. **The ledger's open orders**: one the broker never received is sent (same client order id,
   so it cannot be placed twice); the others take the broker's status.
3. **Fills a book-priced (paper) broker has not booked** are booked at it.
4. **The broker's open orders**: ours that the ledger has as open are tracked; ours that the
   ledger has as done, or never saw, are cancelled with a line saying so (a book-priced broker
   closes them as its books did); any other is EXTERNAL: reported by id, symbol and side,
   recorded, and never cancelled or traded against.
5. **Positions**: each rebuilt book must hold what its fills say; what no strategy explains is
   EXTERNAL.

Before it, the rebuilt books get their orders back (:func:`resume_orders`); a replay's warm-up
trades are recorded as of their entry (:func:`adopt`) for step 3 to book at the paper account.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..brokers.base import BookPricedBroker, Capability, OrderAck
from ..errors import StrateQueueError
from ..ledger import Allocation
from ..models import BrokerOrder, Fill, OrderStatus, Side
from .ids import client_order_id
from .state import ADOPTED, OpenOrder, Sleeve, oco_leg, order_from_row

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["EXTERNAL", "ReconciliationError", "adopt", "reconcile", "resume_orders"]

log = logging.getLogger(__name__)

#: The owner of broker positions and orders that no strategy explains; never traded.
EXTERNAL = "EXTERNAL"


class ReconciliationError(StrateQueueError):
    """The ledger, the books and the broker disagree in a way that cannot be explained."""


def reconcile(portfolio: Portfolio) -> list[str]:
    """Complete what a crash interrupted and check that ledger, books and broker agree.

    Returns lines to show the user; raises ReconciliationError on a mismatch it cannot explain.
    """
    notes: list[str] = []
    if portfolio.broker is None:
        return notes
    if portfolio.fills.real:
        _executions(portfolio, notes)
    _ledger_orders(portfolio, notes)
    if isinstance(portfolio.broker, BookPricedBroker):
        _book_fills(portfolio, notes)
    _broker_orders(portfolio, notes)
    _positions(portfolio, notes)
    return notes


def _executions(p: Portfolio, notes: list[str]) -> None:
    """Executions of our orders the ledger has not booked (filled while StrateQueue was down,
    or after the last run's final look), booked under the broker's own ids."""
    broker = p.broker
    assert broker is not None
    if Capability.EXECUTIONS not in broker.capabilities:
        return
    since = p.ledger.previous_run_start(p.run_id)
    if since is None:
        return
    fills = broker.get_executions(since - timedelta(minutes=5))
    for fill in sorted(fills, key=lambda f: f.timestamp):
        base = fill.client_order_id.partition("/")[0]
        if p.ledger.order(base) is None or p.ledger.has_execution(fill.execution_id):
            continue
        if real_fill(p, fill):
            notes.append(
                f"Booked {fill.side.value} {fill.qty:g} {fill.symbol} @ {fill.price:g} "
                f"(execution {fill.execution_id} of order {fill.client_order_id}), filled while "
                "StrateQueue was not watching."
            )


def _ledger_orders(p: Portfolio, notes: list[str]) -> None:
    broker = p.broker
    assert broker is not None
    has_executions = Capability.EXECUTIONS in broker.capabilities
    for row in p.ledger.orders(open_only=True):
        cid = row["client_order_id"]
        ack = broker.get_order(cid)
        if ack is None:
            ack = broker.submit_order(order_from_row(row))
            p.ledger.update_order(
                cid,
                p.fills.ledger_status(ack.status),
                event="sent after restart",
                message=ack.message,
                broker_order_id=ack.broker_order_id or None,
            )
            if ack.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
                p.unsure.add(cid)
            notes.append(
                f"Sent order {cid} ({row['symbol']}), committed before the last stop but never sent."
            )
            continue
        booked = float(row["filled_qty"] or 0)
        if p.fills.real and not has_executions and ack.filled_qty > booked + 1e-9:
            # A broker that cannot list executions: the missed part, from its cumulative
            # quantity (cum_qty makes a later report of the same execution a no-op).
            price = ack.filled_avg_price or p.last_price.get(row["symbol"], 0.0)
            fill = Fill(
                cid + oco_leg(row, price),
                row["symbol"],
                Side(row["side"]),
                ack.filled_qty - booked,
                price,
                datetime.now(UTC),
                0.0,
                f"{ack.broker_order_id or cid}:{ack.filled_qty:g}",
                cum_qty=ack.filled_qty,
            )
            real_fill(p, fill)
            notes.append(
                f"Applied {fill.qty:g} {row['symbol']} filled on order {cid} while StrateQueue was down."
            )
        elif p.fills.ledger_status(ack.status) is not OrderStatus(row["status"]):
            p.ledger.update_order(
                cid,
                p.fills.ledger_status(ack.status),
                event="status after restart",
                message=ack.message,
                broker_order_id=ack.broker_order_id or None,
            )


def _broker_orders(p: Portfolio, notes: list[str]) -> None:
    """Every order the broker holds open, against the ledger."""
    broker = p.broker
    assert broker is not None
    ours = f"sq-{p.ledger_id}-"
    foreign: list[dict[str, object]] = []
    for ack in broker.get_open_orders():
        cid = ack.client_order_id
        if not ack.status.is_open:
            continue  # done itself, listed for its working legs (a filled bracket entry)
        row = p.ledger.order(cid)
        if row is not None and OrderStatus(row["status"]).is_open:
            continue  # tracked: the books and the ledger wait for it
        what = _describe(ack)
        if row is None and not cid.startswith(ours):
            foreign.append(
                {
                    "client_order_id": cid,
                    "broker_order_id": ack.broker_order_id,
                    "symbol": ack.symbol,
                    "side": ack.side.value if ack.side else None,
                    "qty": ack.qty,
                }
            )
            notes.append(
                f"{EXTERNAL}: open order {cid} at the broker ({what}) was not placed by this "
                "ledger; it is left alone and its quantity is never traded against."
            )
            continue
        if isinstance(broker, BookPricedBroker):  # its books decided: close it the same way
            filled = row is not None and OrderStatus(row["status"]) is OrderStatus.FILLED
            broker.close_book_order(cid, filled=filled)
            continue
        seen = f"the ledger has it as {row['status']}" if row else "the ledger never saw it"
        result = broker.cancel_order(cid)
        if row is not None:
            p.ledger.update_order(
                cid,
                OrderStatus(row["status"]),
                event="cancelled at start",
                message=f"still open at the broker ({seen}): cancelled",
            )
        notes.append(
            f"Cancelled our order {cid} ({what}): the broker still held it open but {seen} "
            f"(broker: {result.status.value}{', ' + result.message if result.message else ''})."
        )
        log.warning("Cancelled order %s (%s) at start: %s", cid, what, seen)
    p.ledger.set_meta("external_orders", json.dumps(foreign, sort_keys=True))


def _describe(ack: OrderAck) -> str:
    side = ack.side.value if ack.side else "?"
    qty = f" {ack.qty:g}" if ack.qty else ""
    return f"{ack.symbol} {side}{qty}, {ack.status.value}"


def _book_fills(p: Portfolio, notes: list[str]) -> None:
    """Fills the ledger has but a book-priced broker has not booked."""
    broker = p.broker
    assert isinstance(broker, BookPricedBroker)
    for row in p.ledger.fills():
        if row["execution_id"] in broker.executions:
            continue
        allocations = p.ledger.allocations(row["id"])
        signed = sum(a["qty"] for a in allocations)
        flow = sum(a["qty"] * a["price"] for a in allocations) + row["commission"]
        if p.broker.get_order(row["client_order_id"]) is None:  # type: ignore[union-attr]
            # Closed in the ledger in the bar that filled it (adopted from the warm-up, a stop
            # hit on its entry bar) and cut off before it was sent: send it now.
            order = p.ledger.order(row["client_order_id"])
            if order is None:
                raise ReconciliationError(
                    f"Fill {row['execution_id']} belongs to order {row['client_order_id']}, "
                    "which neither the ledger nor the broker knows. Check the broker account "
                    "before restarting."
                )
            ack = p.broker.submit_order(order_from_row(order))  # type: ignore[union-attr]
            p.ledger.update_order(
                order["client_order_id"],
                OrderStatus(order["status"]),
                event="sent",
                broker_order_id=ack.broker_order_id or None,
            )
        broker.fill_from_book(
            row["client_order_id"],
            signed,
            row["price"],
            datetime.fromisoformat(row["ts"]),
            row["commission"],
            final=False,
            execution_id=row["execution_id"],
            cash_flow=flow,
        )
        if not row["execution_id"].endswith(ADOPTED):  # the warm-up's, booked at start
            notes.append(
                f"Booked fill {row['execution_id']} at the broker (recorded before the last stop)."
            )


def _positions(p: Portfolio, notes: list[str]) -> None:
    """Strategies' fills against the broker's account."""
    broker = p.broker
    assert broker is not None
    owned: dict[str, float] = defaultdict(float)
    for (strategy_id, symbol), qty in p.ledger.strategy_positions().items():
        owned[symbol] += qty
        sleeve = next((s for s in p.sleeves.get(symbol, []) if s.strategy_id == strategy_id), None)
        if sleeve is not None and abs(float(sleeve.runner.position_size) - qty) > 1e-9:
            raise ReconciliationError(
                f"Strategy '{strategy_id}' on {symbol}: its rebuilt book holds "
                f"{float(sleeve.runner.position_size):g} but its recorded fills add up to {qty:g}. "
                "The ledger may have been edited or belongs to other strategy files; "
                "start with a new --db, or restore the original files."
            )
    for position in broker.get_positions():
        extra = position.qty - owned.get(position.symbol, 0.0)
        if abs(extra) > 1e-9:
            p.ledger.snapshot(
                datetime.now(UTC),
                EXTERNAL,
                0.0,
                extra * (position.market_price or position.avg_price),
                [(position.symbol, extra, position.avg_price, position.market_price)],
            )
            notes.append(
                f"{EXTERNAL}: {extra:+g} {position.symbol} at the broker belongs to no strategy; "
                "it is tracked and never traded."
            )


def real_fill(p: Portfolio, fill: Fill) -> bool:
    """Book a broker's fill found at start, as just after its symbol's last bar."""
    from .broker_fills import BrokerFills

    assert isinstance(p.fills, BrokerFills), "only a broker that reports fills has executions"
    return bool(p.fills.real_fill(fill, p.after_last_bar(fill.symbol)))


def resume_orders(p: Portfolio) -> None:
    """After the books were rebuilt from the ledger: which order each ref is, which are open."""
    for sleeve in p.all_sleeves():
        sleeve.cids.update(p.ledger.intent_orders(sleeve.strategy_id, sleeve.symbol))
    by_key = {(s.strategy_id, s.symbol): s for s in p.all_sleeves()}
    for row in p.ledger.orders(open_only=True):
        legs = [
            (by_key[(leg["strategy_id"], row["symbol"])], leg["ref"])
            for leg in p.ledger.legs(row["client_order_id"])
            if (leg["strategy_id"], row["symbol"]) in by_key
        ]
        if legs:
            p.open_orders[row["client_order_id"]] = OpenOrder(
                row["client_order_id"], row["symbol"], legs
            )


def adopt(p: Portfolio, sleeve: Sleeve, trades: Sequence[Any]) -> None:
    """Record trades a warm-started strategy holds from its history, as of their entry, so a
    replay's account matches the strategy's book. Only the ledger is written: like any
    committed order and fill, :func:`reconcile` takes them to the (paper) account, in ledger
    order, also after a crash in between. Live runs never do this: no order is placed for
    the past."""
    from ..engine.book import ref_of

    with p.ledger.transaction():
        for trade in trades:
            trade_ref = ref_of(trade) or f"bar{trade.entry_bar}"
            ref = f"adopted-{trade_ref}"
            cid = client_order_id(p.ledger_id, sleeve.strategy_id, sleeve.symbol, ref)
            side = Side.BUY if trade.size > 0 else Side.SELL
            order = BrokerOrder(cid, sleeve.symbol, side, None)
            p.ledger.record_order(p.run_id, order, [(sleeve.strategy_id, ref, trade.size)])
            entry_time = sleeve.runner.bar_time_utc(trade.entry_bar)
            fill = Fill(
                cid,
                sleeve.symbol,
                side,
                abs(trade.size),
                trade.entry_price,
                entry_time,
                0.0,
                cid + ADOPTED,
            )
            allocation = Allocation(
                sleeve.strategy_id, sleeve.symbol, ref, trade.size, trade.entry_price
            )
            p.ledger.record_fill(fill, [allocation])
            p.ledger.update_order(cid, OrderStatus.FILLED, event="adopted from warm-up")
            p.ledger.open_trade(
                sleeve.strategy_id,
                sleeve.symbol,
                trade_ref,
                trade.size,
                trade.entry_bar,
                trade.entry_price,
                entry_time,
                trade.sl,
                trade.tp,
                trade.tag,
            )
