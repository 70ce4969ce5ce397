"""The fake's account activities: one ``FILL`` activity per execution, served as Alpaca serves
``GET /v2/account/activities/FILL`` (and ``/v2/account/activities?activity_types=FILL``).

An activity's id has Alpaca's format, ``YYYYMMDDHHMMSSmmm::<uuid>`` (the time in New York),
and its uuid is drawn afresh: it is NOT the trade_updates stream's ``execution_id`` of the same
execution, so a client cannot get away with assuming the two name an execution alike.

Paging as Alpaca documents it: ``direction`` (``desc`` by default), ``page_size`` (at most
100, the default), ``page_token`` (an activity id: ``asc`` continues right after it, ``desc``
right before it), ``after`` / ``until`` (exclusive timestamps) and ``date`` (one day).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .errors import ApiError

__all__ = ["ActivityLog"]

_NEW_YORK = ZoneInfo("America/New_York")
_MAX_PAGE = 100
_TYPES = {"FILL"}


def _parse_time(value: str, name: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise ApiError(422, 40010001, f"invalid {name}: {value}") from None


class ActivityLog:
    """Every execution of the account, oldest first."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._lock = threading.Lock()
        self._rows: list[tuple[datetime, dict[str, Any]]] = []

    def record(
        self, order: dict[str, Any], qty: float, price: float, at: datetime | None = None
    ) -> dict[str, Any]:
        """One execution of ``order`` (already updated with it) at ``at`` (now by default):
        its FILL activity."""
        at = at or datetime.now(UTC)
        stamp = at.astimezone(_NEW_YORK).strftime("%Y%m%d%H%M%S%f")[:-3]
        filled, total = float(order["filled_qty"]), float(order["qty"])
        full = filled >= total - 1e-9
        row = {
            "id": f"{stamp}::{uuid.uuid4()}",
            "account_id": self.account_id,
            "activity_type": "FILL",
            "transaction_time": at.isoformat().replace("+00:00", "Z"),
            "type": "fill" if full else "partial_fill",
            "price": str(price),
            "qty": str(qty),
            "side": order["side"],
            "symbol": order["symbol"],
            "leaves_qty": str(round(max(total - filled, 0.0), 9)),
            "order_id": order["id"],
            "cum_qty": order["filled_qty"],
            "order_status": "filled" if full else "partially_filled",
        }
        with self._lock:
            self._rows.append((at, row))
        return row

    def query(self, activity_types: str | None, params: dict[str, str]) -> list[dict[str, Any]]:
        """One page of activities, as Alpaca answers ``params``."""
        if activity_types is not None and not set(activity_types.split(",")) & _TYPES:
            return []  # the fake's account has fills only: no dividends, fees or transfers
        direction = params.get("direction", "desc")
        if direction not in ("asc", "desc"):
            raise ApiError(422, 40010001, f"invalid direction: {direction}")
        day = params.get("date")
        size = int(params.get("page_size") or 0) or (None if day else _MAX_PAGE)
        if size is not None and (size < 1 or (size > _MAX_PAGE and not day)):
            raise ApiError(422, 40010001, f"page_size must be between 1 and {_MAX_PAGE}")
        after = _parse_time(params["after"], "after") if "after" in params else None
        until = _parse_time(params["until"], "until") if "until" in params else None
        with self._lock:
            rows = [
                (at, row)
                for at, row in self._rows
                if (after is None or at > after)
                and (until is None or at < until)
                and (day is None or at.astimezone(_NEW_YORK).date().isoformat() == day)
            ]
        if direction == "desc":
            rows.reverse()
        token = params.get("page_token")
        if token:
            ids = [row["id"] for _, row in rows]
            if token not in ids:
                raise ApiError(422, 40010001, f"invalid page_token: {token}")
            rows = rows[ids.index(token) + 1 :]
        return [row for _, row in rows[:size]]
