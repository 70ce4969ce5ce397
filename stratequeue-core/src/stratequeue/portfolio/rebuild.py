"""A restart: each strategy's book rebuilt from the ledger, the warm-up's orders it never
committed, the allocation changes since the last run, and the warm-up's end (adopt or start flat).

Nothing here sends an order: the rebuilt books are what the run had, and the reconciliation at
start brings the broker's side in line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..engine.book import ref_of
from ..engine.flatten import (
    add_capital,
    close_now,
    close_positions,
    drop_order,
    flatten_inherited,
    set_units,
)
from ..ledger import Ledger
from ..models import Bar
from . import Sleeve
from .config import StrategySpec

if TYPE_CHECKING:
    from . import Portfolio

__all__ = ["go_live", "rebalance", "rebuild_sleeve", "uncommitted", "went_live"]


def went_live(ledger: Ledger) -> bool:
    """Whether a bar after the warm-up was processed, by this start or an earlier one."""
    for row in ledger.sleeves():
        last = ledger.last_bar_time(row["symbol"])
        warm_until = datetime.fromisoformat(row["first_live"]) if row["first_live"] else None
        if last is not None and (warm_until is None or last > warm_until):
            return True
    return False


def uncommitted(ledger: Ledger, sleeve: Sleeve) -> list[Any]:
    """The warm-up's pending orders still in the rebuilt book that the ledger never got."""
    committed = ledger.intent_orders(sleeve.strategy_id, sleeve.symbol)
    waiting = {ref_of(o) for o in sleeve.runner.orders}
    return [
        i for i in sleeve.runner.warm_start_intents if i.ref in waiting and i.ref not in committed
    ]


def rebuild_sleeve(
    runner: Any,
    spec: StrategySpec,
    symbol: str,
    row: dict[str, Any],
    recorded: list[Bar],
    ledger: Ledger,
    to_frame: Callable[[Sequence[Bar]], Any],
) -> Sleeve:
    """Bring a strategy's book back to where it was: ``runner`` (fresh, with the sleeve's
    capital) gets the same warm-up, then every bar the ledger recorded, with the capital
    changes, closes, refusals and real fills between the same bars as when they happened. No
    order is sent (they were sent, or are completed by the reconciliation)."""
    warm_until = datetime.fromisoformat(row["first_live"]) if row["first_live"] else None
    history = [b for b in recorded if warm_until is not None and b.timestamp <= warm_until]
    history = history[-row["history_bars"] :] if row["history_bars"] else []
    if history:
        runner.warm_start(to_frame(history))
        if row["flattened"]:
            flatten_inherited(runner)
    closed_before = len(runner.closed_trades)
    capital = float(row["capital"])
    events = ledger.sleeve_events(spec.strategy_id, symbol)
    fills = ledger.external_fills(spec.strategy_id, symbol)

    def replay_events(until: datetime | None) -> None:
        nonlocal capital
        while events and (
            events[0]["after_ts"] is None
            or until is None
            or datetime.fromisoformat(events[0]["after_ts"]) <= until
        ):
            event = events.pop(0)
            if event["kind"] == "capital":
                add_capital(runner, event["amount"])
                capital += event["amount"]
            elif event["kind"] == "close":
                close_positions(runner)
            elif event["kind"] == "refuse":
                drop_order(runner, event["ref"])
            elif event["kind"] == "units":
                set_units(runner, event["ref"], event["amount"])
            elif event["kind"] == "exit":
                close_now(runner, event["amount"], event["ref"])

    def replay_fills(until: datetime | None) -> None:
        """Real fills, applied between the same bars as when they happened."""
        while fills and (
            until is None or datetime.fromisoformat(fills[0]["applied_before"]) <= until
        ):
            fill = fills.pop(0)
            if fill["qty"] and fill["ref"] in {ref_of(o) for o in runner.orders}:
                runner.apply_fill(
                    fill["ref"], abs(fill["qty"]), fill["price"], datetime.fromisoformat(fill["ts"])
                )

    if warm_until is not None:
        replay_events(warm_until)
    for bar in recorded:
        if warm_until is None or bar.timestamp > warm_until:
            replay_fills(bar.timestamp)
            runner.on_bar(bar)
            replay_events(bar.timestamp)
    if runner.bar_count:
        replay_fills(None)
        replay_events(None)
    return Sleeve(spec, symbol, runner, capital, closed_before=closed_before)


def rebalance(
    ledger: Ledger,
    sleeve: Sleeve,
    old_allocation: float,
    account_equity: float,
    symbols: Sequence[str],
    after: datetime | None,
    *,
    close: bool,
) -> str:
    """An allocation changed between runs: move the sleeve's capital by the difference, keep its
    positions unless ``close`` (``--rebalance close``). Recorded, so later rebuilds repeat it.
    Returns the note for the user."""
    delta = (sleeve.spec.allocation - old_allocation) * account_equity / len(symbols)
    add_capital(sleeve.runner, delta)
    sleeve.capital += delta
    ledger.add_sleeve_event(sleeve.strategy_id, sleeve.symbol, after, "capital", delta)
    ledger.upsert_strategy(
        sleeve.strategy_id,
        str(sleeve.spec.file),
        sleeve.spec.allocation,
        sleeve.spec.allocation * account_equity,
        symbols,
    )
    note = (
        f"{sleeve.strategy_id} on {sleeve.symbol}: allocation {old_allocation:g} -> "
        f"{sleeve.spec.allocation:g}, capital {delta:+,.2f}"
    )
    if close and sleeve.runner.position_size:
        close_positions(sleeve.runner)
        ledger.add_sleeve_event(sleeve.strategy_id, sleeve.symbol, after, "close")
        note += f"; closing its {float(sleeve.runner.position_size):+g} at the next bar"
    return note + "."


def go_live(
    portfolio: Portfolio, sleeve: Sleeve, trades: list[Any], intents: list[Any], *, adopt: bool
) -> tuple[list[Any], str | None]:
    """The warm-up is over. With ``adopt`` (a replay with a book-priced broker) the book keeps
    the backtest's state and the account adopts the trades it holds (booked as of their entry).
    Otherwise the run trades real capital: the book starts flat with its capital, and trades
    its backtest would still hold are not bought (no order is placed for the past).

    Returns the warm-up's pending orders that still apply, and a note for the user or None."""
    if adopt:
        if trades:
            portfolio.adopt(sleeve, trades)
        return intents, None
    dropped = flatten_inherited(sleeve.runner)
    note = None
    if trades:
        size = sum(t.size for t in trades)
        note = (
            f"{sleeve.strategy_id}: its backtest would hold {size:+g} {sleeve.symbol} from before "
            "the start; it starts flat (no orders are placed for the past)."
        )
    return [i for i in intents if i.ref not in dropped], note
