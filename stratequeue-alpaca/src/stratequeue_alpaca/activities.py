"""The account's executions, from Alpaca's account activities (``GET /v2/account/activities/FILL``).

alpaca-py's ``TradingClient`` has no method for this endpoint, so it is called through the
SDK's own REST client (``client.get``) and each row is validated with the SDK's
``TradeActivity`` model. An activity's ``id`` (``20240603101500123::<uuid>``) is Alpaca's own,
stable name for one execution: the same execution listed again, after a restart too, has the
same id. Pages are read oldest first (``direction=asc``), each continuing after the last id
(``page_token``), as Alpaca documents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from alpaca.trading.models import TradeActivity

__all__ = ["PAGE_SIZE", "fill_activities"]

#: Alpaca's largest page (and its default) when no ``date`` is given
PAGE_SIZE = 100


def _after(since: datetime) -> str:
    """``since`` as Alpaca's ``after`` takes it (whole seconds, exclusive), a second early."""
    return (since - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def fill_activities(
    get: Callable[[str, dict[str, Any]], Any], account_id: str, since: datetime | None
) -> list[TradeActivity]:
    """Every FILL activity at or after ``since`` (all of them when None), oldest first.

    ``get(path, params)`` performs one GET on the trading API (with the caller's retries).
    The Trading API's rows may leave out ``account_id``, which the SDK's model requires: the
    connected account's id stands in for it."""
    params: dict[str, Any] = {"direction": "asc", "page_size": PAGE_SIZE}
    if since is not None:
        params["after"] = _after(since)
    out: list[TradeActivity] = []
    while True:
        rows = get("/account/activities/FILL", dict(params))
        if not isinstance(rows, list):
            raise ValueError(f"Alpaca's FILL activities came back as {type(rows).__name__}")
        out += [TradeActivity(**{"account_id": account_id, **row}) for row in rows]
        if len(rows) < PAGE_SIZE:
            break
        params["page_token"] = rows[-1]["id"]
    if since is not None:
        out = [a for a in out if a.transaction_time >= since]
    return out
