"""The risk guard: checks each order against the limits and keeps the kill switch.

Call order for the pipeline:

- ``on_position(strategy_id, symbol, value)`` whenever a strategy's position in a symbol changes
  value (signed market value: long > 0, short < 0); the account's is the sum over strategies.
- ``check_order(...)`` before an order is sent; it returns the breached rule's name (the order is
  rejected) or None (the order counts towards ``max_orders_per_minute``).
- ``on_equity`` / ``on_account_equity`` each bar; they return the rule that newly tripped the
  kill switch (``max_daily_loss`` or ``max_drawdown``), so the caller can flatten when that
  scope's ``flatten_on_kill`` is set.

A killed scope (a strategy, or the account: every strategy) may only reduce positions. A kill by
``max_daily_loss`` ends at the next UTC midnight; a kill by ``max_drawdown`` lasts until
``reset``. ``export_state`` / ``import_state`` carry kills, equity peaks and day starts across
restarts as a JSON-ready dict.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .limits import RiskConfig, RiskLimits

__all__ = ["ACCOUNT", "RiskGuard"]

log = logging.getLogger(__name__)

#: The scope name of the account in ``export_state`` and ``kill_reason``.
ACCOUNT = "__account__"

_MINUTE = timedelta(minutes=1)
_STATE_VERSION = 1


def _day(when: datetime) -> date:
    """The UTC calendar day of ``when`` (naive datetimes are taken as UTC)."""
    return when.astimezone(UTC).date() if when.tzinfo else when.date()


class RiskGuard:
    def __init__(self, config: RiskConfig) -> None:
        self.config = config
        self._positions: dict[tuple[str, str], float] = {}
        self._sent: dict[str, deque[datetime]] = {}
        self._kills: dict[str, tuple[str, datetime]] = {}
        self._peaks: dict[str, float] = {}
        self._day_start: dict[str, tuple[date, float]] = {}

    def limits(self, scope: str) -> RiskLimits:
        """The limits of a strategy, or of the account for ``ACCOUNT``."""
        return self.config.account if scope == ACCOUNT else self.config.for_strategy(scope)

    # -- positions and orders ------------------------------------------------------------------
    def on_position(self, strategy_id: str, symbol: str, value: float) -> None:
        self._positions[(strategy_id, symbol)] = value

    def _position(self, scope: str, symbol: str) -> float:
        if scope == ACCOUNT:
            return sum(v for (_, s), v in self._positions.items() if s == symbol)
        return self._positions.get((scope, symbol), 0.0)

    def check_order(
        self,
        strategy_id: str,
        symbol: str,
        side: str,
        qty_or_none: float | None,
        est_value: float,
        now: datetime,
    ) -> str | None:
        """The name of the first rule the order breaks (strategy limits first, then the
        account's), or None when it may go; ``side`` is 'buy' or 'sell', ``est_value`` the order's
        estimated dollar value (``qty_or_none`` is None for notional orders). Orders that only
        reduce a position pass the kill switch, allowed_symbols and max_position_value."""
        value = abs(est_value)
        delta = value if side.lower() == "buy" else -value
        for scope in (strategy_id, ACCOUNT):
            rule = self._breach(scope, symbol, delta, value, now)
            if rule is not None:
                log.info(
                    "risk: %s %s %s %s ($%.2f) rejected by %s (%s)",
                    strategy_id,
                    side,
                    qty_or_none if qty_or_none is not None else "",
                    symbol,
                    value,
                    rule,
                    "account" if scope == ACCOUNT else "strategy",
                )
                return rule
        for scope in (strategy_id, ACCOUNT):
            self._sent.setdefault(scope, deque()).append(now)
        return None

    def _breach(
        self, scope: str, symbol: str, delta: float, value: float, now: datetime
    ) -> str | None:
        limits = self.limits(scope)
        held = self._position(scope, symbol)
        after = held + delta
        reduces = abs(after) <= abs(held) and after * held >= 0
        if not reduces:
            reason = self.kill_reason(scope, now)
            if reason is not None:
                return reason
            if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
                return "allowed_symbols"
        if limits.max_order_value is not None and value > limits.max_order_value:
            return "max_order_value"
        if (
            not reduces
            and limits.max_position_value is not None
            and abs(after) > limits.max_position_value
        ):
            return "max_position_value"
        if limits.max_orders_per_minute is not None:
            sent = self._sent.setdefault(scope, deque())
            while sent and now - sent[0] >= _MINUTE:
                sent.popleft()
            if len(sent) >= limits.max_orders_per_minute:
                return "max_orders_per_minute"
        return None

    # -- equity and the kill switch ------------------------------------------------------------
    def on_equity(self, strategy_id: str, equity: float, now: datetime) -> str | None:
        return self._on_equity(strategy_id, equity, now)

    def on_account_equity(self, equity: float, now: datetime) -> str | None:
        return self._on_equity(ACCOUNT, equity, now)

    def _on_equity(self, scope: str, equity: float, now: datetime) -> str | None:
        limits = self.limits(scope)
        today = _day(now)
        started = self._day_start.get(scope)
        if started is None or started[0] != today:
            self._day_start[scope] = started = (today, equity)
        peak = self._peaks[scope] = max(self._peaks.get(scope, equity), equity)
        if self.kill_reason(scope, now) is not None:
            return None
        rule = None
        # Both breached: the drawdown kill wins, as it does not expire at midnight.
        if limits.max_drawdown is not None and equity <= peak * (1 - limits.max_drawdown):
            rule = "max_drawdown"
        elif limits.max_daily_loss is not None and started[1] - equity >= limits.max_daily_loss:
            rule = "max_daily_loss"
        if rule is not None:
            self._kills[scope] = (rule, now)
            log.warning(
                "risk: kill switch tripped for %s by %s (equity %.2f, day start %.2f, peak %.2f)",
                "the account" if scope == ACCOUNT else scope,
                rule,
                equity,
                started[1],
                peak,
            )
        return rule

    def kill_reason(self, scope: str, now: datetime | None = None) -> str | None:
        """The rule that killed ``scope`` (a strategy id or ``ACCOUNT``), or None. A strategy is
        also killed when the account is. Given ``now``, a daily-loss kill from an earlier UTC day
        has expired."""
        for key in (scope, ACCOUNT) if scope != ACCOUNT else (ACCOUNT,):
            kill = self._kills.get(key)
            if kill is None:
                continue
            rule, since = kill
            if rule == "max_daily_loss" and now is not None and _day(now) > _day(since):
                del self._kills[key]
                log.info("risk: daily-loss kill switch of %s reset at UTC midnight", key)
                continue
            return rule
        return None

    def killed(self, strategy_id: str = ACCOUNT) -> bool:
        """Whether ``strategy_id`` (default: the account) may only reduce positions."""
        return self.kill_reason(strategy_id) is not None

    def reset(self, scope: str = ACCOUNT) -> None:
        """Lift the kill switch of ``scope`` and restart its drawdown peak (a user's decision)."""
        self._kills.pop(scope, None)
        self._peaks.pop(scope, None)

    # -- persistence -----------------------------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """Kills, equity peaks and day starts, as JSON-ready data (timestamps in ISO 8601)."""
        return {
            "version": _STATE_VERSION,
            "kills": {s: {"rule": r, "since": t.isoformat()} for s, (r, t) in self._kills.items()},
            "peaks": dict(self._peaks),
            "day_start": {
                s: {"date": d.isoformat(), "equity": e} for s, (d, e) in self._day_start.items()
            },
        }

    def import_state(self, state: Mapping[str, Any]) -> None:
        """Restore what ``export_state`` returned (replacing the current state)."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unknown risk state version {state.get('version')!r}")
        self._kills = {
            s: (k["rule"], datetime.fromisoformat(k["since"])) for s, k in state["kills"].items()
        }
        self._peaks = {s: float(v) for s, v in state["peaks"].items()}
        self._day_start = {
            s: (date.fromisoformat(d["date"]), float(d["equity"]))
            for s, d in state["day_start"].items()
        }
