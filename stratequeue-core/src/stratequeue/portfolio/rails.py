"""Risk rails: new orders refused (stale feed, a pause by the operator, risk limits) and kill switches watched per bar.

Exits (SL/TP/close) always pass. A refused order is recorded as rejected with its rule and taken
out of the strategy's book. The guard's state is kept in the ledger, so a tripped kill switch
survives a restart (:func:`restore_risk`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..models import BrokerOrder, OrderIntent, OrderStatus
from .events import Event, RejectEvent
from .ids import client_order_id
from .state import Sleeve

if TYPE_CHECKING:
    from .pipeline import Portfolio

__all__ = ["refuse", "refused_by", "restore_risk", "watch_risk"]

#: refusals that are not a risk limit's
_MESSAGES = {"stale_feed": "stale feed: trading paused", "paused": "paused by the operator"}


def refused_by(p: Portfolio, sleeve: Sleeve, intent: OrderIntent) -> str | None:
    """The rule that refuses this new order, or None. Exits (SL/TP/close) always pass."""
    if intent.parent_ref is not None:
        return None
    if sleeve.symbol in p.paused:
        return "stale_feed"
    if (sleeve.strategy_id, sleeve.symbol) in p.held:
        return "paused"
    if p.risk is None:
        return None
    price = (
        intent.limit
        or intent.stop
        or intent.reference_price
        or p.last_price.get(sleeve.symbol, 0.0)
    )
    if intent.is_fraction:
        qty = None
        value = abs(intent.size) * float(sleeve.runner.equity)
    else:
        qty = abs(sleeve.runner.units.intent_qty(intent))
        value = qty * price
    rule: str | None = p.risk.check_order(
        sleeve.strategy_id, sleeve.symbol, intent.side.value, qty, value, intent.bar_time
    )
    return rule


def refuse(p: Portfolio, sleeve: Sleeve, intent: OrderIntent, rule: str) -> Event:
    """Record a refused order (status rejected, the rule as its message), take it out of the
    strategy's book, and tell the user."""
    from ..engine.flatten import drop_order

    cid = client_order_id(p.ledger_id, sleeve.strategy_id, sleeve.symbol, intent.ref)
    p.ledger.record_intent(p.run_id, intent, cid)
    order = BrokerOrder(
        cid, sleeve.symbol, intent.side, None, intent.order_type, intent.limit, intent.stop
    )
    p.ledger.record_order(p.run_id, order, [(sleeve.strategy_id, intent.ref, intent.size)])
    message = _MESSAGES.get(rule, f"risk rule {rule}")
    p.ledger.update_order(cid, OrderStatus.REJECTED, event="risk", message=message)
    drop_order(sleeve.runner, intent.ref)
    p.ledger.add_sleeve_event(
        sleeve.strategy_id, sleeve.symbol, intent.bar_time, "refuse", ref=intent.ref
    )
    return RejectEvent(sleeve.symbol, intent.bar_time, cid, message, (sleeve.strategy_id,))


def watch_risk(p: Portfolio, ts: datetime, sleeves: Sequence[Sleeve]) -> None:
    """Feed positions and equity to the guard; a tripped kill switch is said, recorded, and
    (flatten_on_kill) closes the strategy's positions. Its state is kept in the ledger."""
    from ..engine.flatten import close_positions
    from ..risk import ACCOUNT

    risk = p.risk
    if risk is None:
        return
    for sleeve in sleeves:
        price = p.last_price.get(sleeve.symbol, 0.0)
        risk.on_position(
            sleeve.strategy_id, sleeve.symbol, float(sleeve.runner.position_size) * price
        )
    tripped: list[tuple[str, str]] = []
    for strategy_id in dict.fromkeys(s.strategy_id for s in sleeves):
        equity = sum(float(s.runner.equity) for s in p.by_strategy[strategy_id])
        rule = risk.on_equity(strategy_id, equity, ts)
        if rule:
            tripped.append((strategy_id, rule))
    total = sum(float(s.runner.equity) for s in p.all_sleeves())
    rule = risk.on_account_equity(total, ts)
    if rule:
        tripped.append((ACCOUNT, rule))
    for scope, rule in tripped:
        who = "the account" if scope == ACCOUNT else f"strategy {scope}"
        flatten = risk.limits(scope).flatten_on_kill
        p.alerts.append(
            f"KILL SWITCH: {rule} tripped for {who}: no new positions"
            + ("; closing its positions" if flatten else "")
            + "."
        )
        p.ledger.record_signal(p.run_id, scope, "*", ts, "KILL", None, None, {"rule": rule})
        if flatten:
            for sleeve in p.all_sleeves():
                if scope == ACCOUNT or sleeve.strategy_id == scope:
                    close_positions(sleeve.runner)
                    p.ledger.add_sleeve_event(sleeve.strategy_id, sleeve.symbol, ts, "close")
    state = json.dumps(risk.export_state(), sort_keys=True, default=str)
    if state != p.risk_state:
        p.ledger.set_meta("risk_state", state)
        p.risk_state = state


def restore_risk(p: Portfolio) -> None:
    """A kill switch survives a restart."""
    state = p.ledger.get_meta("risk_state")
    if state and p.risk is not None:
        p.risk.import_state(json.loads(state))
        p.risk_state = state
