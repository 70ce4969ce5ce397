"""Operator controls in a running run: the ledger's pending requests applied on the run's
thread, between two bars, through the portfolio's normal paths (see ledger/controls.py).

Two helper threads only *signal* (pacing.py, live_feed.py): the heartbeat raises
:attr:`ControlDesk.pending` when a request waits, and the live bars come through a queue so
that the run's thread wakes within a second even when bars are minutes apart (while a
moment's bars are being gathered, after at most its window). All portfolio work is
:meth:`ControlDesk.apply`, called by the run loop on its own thread.

- ``pause``: the sleeves' new entry orders are refused (as a stale feed's are: the book keeps
  seeing bars, only its orders are withheld) and their resting entry orders (limit, stop) are
  canceled; orders that only reduce a position (closes, SL/TP) still pass, as under a kill
  switch.
- ``resume``: orders flow again from the next bar.
- ``flatten``: the sleeves' positions are closed at the next bar, by the book's own close orders
  (netted, attributed, past the risk rails, which always let exits through).
- ``cancel-orders``: the sleeves' resting entry orders are canceled (a market order is left to
  fill: at a real broker its cancel would race the fill).
- ``risk-reset``: a strategy's (or the account's) kill switch is lifted and its peak restarted.
- ``allocate``: the strategy's capital moves as a restart with the new allocation would.

Every change to a book is also a sleeve event, so a restart rebuilds the same book; pauses and
allocations are restored from the applied requests.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..ledger import Ledger
from ..ledger.controls import KINDS
from ..models import OrderType
from ..portfolio import Portfolio, Sleeve
from ..portfolio.events import Event
from .config import RunConfig

__all__ = ["ControlDesk", "allocations_from_controls"]

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request the run does not apply; its message is the acknowledgement."""


def allocations_from_controls(config: RunConfig, say: Callable[[str], None]) -> RunConfig:
    """An allocation changed by ``stratequeue allocate`` holds at later starts: the command
    line's is replaced by the last applied one (said, so that the user knows)."""
    if str(config.db) == ":memory:" or not Path(config.db).exists():
        return config
    ledger = Ledger(config.db)
    try:
        last = {
            c["strategy_id"]: c["args"]["fraction"] for c in ledger.applied_controls(("allocate",))
        }
    finally:
        ledger.close()
    specs = []
    for spec in config.strategies:
        fraction = last.get(spec.strategy_id)
        if fraction is not None and abs(fraction - spec.allocation) > 1e-12:
            say(
                f"{spec.strategy_id}: allocation {fraction:g} (set by 'stratequeue allocate'), "
                f"not the command line's {spec.allocation:g}."
            )
            spec = replace(spec, allocation=float(fraction))
        specs.append(spec)
    return replace(config, strategies=specs)


class ControlDesk:
    """Applies the ledger's pending control requests to a run's portfolio (its thread only)."""

    def __init__(
        self,
        ledger: Ledger,
        portfolio: Portfolio,
        run_id: int,
        config: RunConfig,
        equity: Callable[[], float],
    ) -> None:
        self.ledger, self.portfolio, self.run_id, self.config = ledger, portfolio, run_id, config
        self.equity = equity  # the account's equity now (allocations are fractions of it)
        self.pending = threading.Event()
        self.pending.set()  # requests written while no run was active apply at the first look

    def restore(self) -> None:
        """Pauses requested in earlier runs still hold."""
        p = self.portfolio
        p.held |= self.ledger.paused_sleeves() & {
            (s.strategy_id, s.symbol) for s in p.all_sleeves()
        }

    # -- on the run's thread ---------------------------------------------------------------------
    def apply(self) -> list[Event]:
        """Apply every pending request, acknowledge each in the ledger; the events to show."""
        self.pending.clear()
        p = self.portfolio
        events: list[Event] = []
        for control in self.ledger.pending_controls():
            when = max(p.last_time.values(), default=None)
            try:
                status, result = "applied", self._apply(control, events)
            except Refused as refusal:
                status, result = "refused", str(refusal)
            self.ledger.acknowledge_control(control["id"], self.run_id, when, status, result)
            p.alerts.append(f"control #{control['id']} {control['kind']}: {status}: {result}")
            log.warning("control #%s %s: %s: %s", control["id"], control["kind"], status, result)
        return events

    def _apply(self, control: dict[str, Any], events: list[Event]) -> str:
        kind = control["kind"]
        if kind not in KINDS:  # a newer StrateQueue's request, or a hand-written row
            raise Refused(
                f"'{kind}' is not a control this run applies (controls never open positions)"
            )
        if kind == "risk-reset":
            return self._risk_reset(control)
        sleeves = self._sleeves(control)
        pairs = {(s.strategy_id, s.symbol) for s in sleeves}
        who = _scope(control)
        if kind == "pause":
            self.portfolio.held |= pairs
            canceled = self._cancel(sleeves, events)
            return f"{who} paused: no new orders; {canceled} open order(s) canceled"
        if kind == "resume":
            self.portfolio.held -= pairs
            return f"{who} resumed: its orders go out from the next bar"
        if kind == "cancel-orders":
            return f"{who}: {self._cancel(sleeves, events)} open order(s) canceled"
        if kind == "flatten":
            return self._flatten(sleeves, who)
        return self._allocate(control, sleeves)

    def _sleeves(self, control: dict[str, Any]) -> list[Sleeve]:
        p = self.portfolio
        strategy, symbol = control["strategy_id"], control["symbol"]
        sleeves = [
            s
            for s in p.all_sleeves()
            if (strategy is None or s.strategy_id == strategy)
            and (symbol is None or s.symbol == symbol)
        ]
        if strategy is not None and strategy not in p.strategy_ids():
            raise Refused(
                f"strategy '{strategy}' is not in this run (its strategies: "
                f"{', '.join(p.strategy_ids())})"
            )
        if not sleeves:
            raise Refused(
                f"{_scope(control)} trades nothing in this run (symbols: {', '.join(p.sleeves)})"
            )
        return sleeves

    def _cancel(self, sleeves: list[Sleeve], events: list[Event]) -> int:
        """Cancel the resting entry orders (limit, stop) of ``sleeves`` (an order netted with
        another strategy's is left alone); their books forget them, as a refused order's, also
        after a restart."""
        from ..engine.flatten import drop_order
        from ..portfolio import routing
        from ..portfolio.state import Actions, book_intent, pending_refs

        p = self.portfolio
        mine = {id(s) for s in sleeves}
        actions = Actions()
        canceled = 0
        with p.ledger.transaction():
            for cid, order in list(p.open_orders.items()):
                if not order.legs or any(id(s) not in mine for s, _ in order.legs):
                    continue
                intents = [book_intent(s, ref) for s, ref in order.legs]
                if any(
                    i is None or i.parent_ref is not None or i.order_type is OrderType.MARKET
                    for i in intents
                ):  # an exit of a position kept, gone from the book, or filling now (market:
                    continue  # a cancel would race its fill at a real broker)
                for sleeve, ref in order.legs:
                    if ref in pending_refs(sleeve.runner):
                        drop_order(sleeve.runner, ref)
                        p.ledger.add_sleeve_event(
                            sleeve.strategy_id,
                            sleeve.symbol,
                            p.last_time.get(sleeve.symbol),
                            "refuse",
                            ref=ref,
                        )
                del p.open_orders[cid]
                p.fills.end_order(cid, actions)
                canceled += 1
        events += routing.apply(p, actions, max(p.last_time.values(), default=datetime.now(UTC)))
        return canceled

    def _flatten(self, sleeves: list[Sleeve], who: str) -> str:
        """The books close their positions at the next bar, as a kill switch's flatten does."""
        from ..engine.flatten import close_positions

        p = self.portfolio
        held = [s for s in sleeves if s.runner.position_size]
        with p.ledger.transaction():
            for sleeve in held:
                close_positions(sleeve.runner)
                p.ledger.add_sleeve_event(
                    sleeve.strategy_id, sleeve.symbol, p.last_time.get(sleeve.symbol), "close"
                )
        if not held:
            return f"{who}: no position to close"
        closing = ", ".join(
            f"{s.strategy_id} {float(s.runner.position_size):+g} {s.symbol}" for s in held
        )
        return f"{who}: closing {closing} at the next bar"

    def _risk_reset(self, control: dict[str, Any]) -> str:
        from ..risk import ACCOUNT

        p = self.portfolio
        if p.risk is None:
            raise Refused("this run has no risk limits: there is no kill switch to reset")
        scope = control["strategy_id"] or ACCOUNT
        if scope != ACCOUNT and scope not in p.strategy_ids():
            raise Refused(
                f"strategy '{scope}' is not in this run (its strategies: "
                f"{', '.join(p.strategy_ids())})"
            )
        was = p.risk.kill_reason(scope)
        p.risk.reset(scope)
        state = json.dumps(p.risk.export_state(), sort_keys=True, default=str)
        p.ledger.set_meta("risk_state", state)
        p.risk_state = state
        name = "the account" if scope == ACCOUNT else scope
        reason = control["args"].get("reason", "")
        return (
            f"kill switch of {name} re-armed"
            + (f" (was {was})" if was else " (it was not tripped)")
            + f" by {control['requested_by']}: {reason}"
        )

    def _allocate(self, control: dict[str, Any], sleeves: list[Sleeve]) -> str:
        from ..portfolio.rebuild import rebalance

        p = self.portfolio
        fraction = float(control["args"]["fraction"])
        strategy = control["strategy_id"]
        allocations = {s.strategy_id: s.spec.allocation for s in p.all_sleeves()}
        others = sum(a for sid, a in allocations.items() if sid != strategy)
        if not 0 < fraction <= 1 or others + fraction > 1 + 1e-9:
            raise Refused(
                f"allocation {fraction:g} for {strategy}: the run's allocations would add up to "
                f"{others + fraction:g} (at most 1.0)"
            )
        equity = self.equity()
        notes = []
        with p.ledger.transaction():
            for sleeve in sleeves:
                old = sleeve.spec.allocation
                sleeve.spec = replace(sleeve.spec, allocation=fraction)
                note = rebalance(
                    p.ledger,
                    sleeve,
                    old,
                    equity,
                    self.config.symbols,
                    p.last_time.get(sleeve.symbol),
                    close=False,
                )
                notes.append(note.rstrip("."))
        return "; ".join(notes) + " from the next bar"


def _scope(control: dict[str, Any]) -> str:
    who = control["strategy_id"] or "every strategy"
    return who + (f" on {control['symbol']}" if control["symbol"] else "")
