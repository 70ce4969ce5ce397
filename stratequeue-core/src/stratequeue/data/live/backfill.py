"""Backfill after a reconnect: what the live stream missed, from the vendor's history.

While a websocket is down, bars close unseen. On reconnecting, :func:`backfill` asks the
vendor's history for each symbol's sub-bars from where delivery stopped (the first open
period, else the end of the last delivered bar) up to now, and folds them like live ones.
The folder dedupes sub-bars and the shared :class:`BarFilter` drops any bar already
delivered, so what the live stream then sends again is ignored: each bar reaches the
strategy once, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from ...models import Bar
from .folding import BarFolder
from .retry import TransientError

__all__ = ["History", "backfill"]

#: ``history(symbol, start, end)``: the vendor's closed sub-bars of ``symbol`` starting in
#: ``[start, end]``, any order; raises :class:`TransientError` when it may work later.
History = Callable[[str, datetime, datetime], Iterable[Bar]]


def backfill(
    folder: BarFolder,
    history: History,
    symbols: Sequence[str],
    now: datetime,
    *,
    close_at: datetime | None = None,
) -> list[Bar]:
    """The bars ``symbols`` missed up to ``now``, oldest first, each not yet delivered.

    Sub-bars still unfinished at ``now`` are left to the live stream. With ``close_at``,
    periods that ended by then are closed even without their last sub-bar (a quiet minute).
    A symbol whose history fails with a :class:`TransientError` is skipped (logged): its
    next backfill starts from the same point.
    """
    out: list[Bar] = []
    fetched: list[str] = []
    for symbol in symbols:
        since = folder.resume_point(symbol, now)
        try:
            subs = sorted(history(symbol, since, now), key=lambda b: b.timestamp)
        except TransientError as exc:
            folder.log.warning("Backfill for %s postponed: %s", symbol, exc)
            continue
        fetched.append(symbol)
        for sub in subs:
            if sub.timestamp >= since and sub.timestamp + folder.sub_length <= now:
                out.extend(folder.add(sub))
    if close_at is not None:
        out.extend(folder.close_through(close_at, fetched))
    out.sort(key=lambda b: (b.timestamp, b.symbol))
    _log_gap(folder.log, out)
    return out


def _log_gap(log: logging.Logger, bars: Sequence[Bar]) -> None:
    if bars:
        log.info(
            "Backfilled %d bar(s) missed while disconnected (%s to %s)",
            len(bars),
            bars[0].timestamp.isoformat(),
            bars[-1].timestamp.isoformat(),
        )
