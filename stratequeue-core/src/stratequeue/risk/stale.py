"""Stale feeds: a symbol without a bar for N granularity periods pauses its trading."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ..granularity import Granularity

__all__ = ["FeedWatch", "Pausable", "StaleFeed"]

log = logging.getLogger(__name__)


class StaleFeed:
    """Tracks each symbol's last bar; ``stale(now)`` names symbols silent for too long.

    A symbol is stale when ``now - last bar > periods * granularity``; it is fresh again as soon
    as ``on_bar`` sees it. ``expect`` starts the clock for symbols that have not sent a bar yet.
    """

    def __init__(self, granularity_seconds: float, periods: int = 3) -> None:
        if granularity_seconds <= 0 or periods < 1:
            raise ValueError("granularity_seconds must be > 0 and periods >= 1")
        self.window = timedelta(seconds=granularity_seconds * periods)
        self._last: dict[str, datetime] = {}

    def expect(self, symbols: Iterable[str], now: datetime) -> None:
        """Symbols that should send bars from ``now`` on (kept if already seen)."""
        for symbol in symbols:
            self._last.setdefault(symbol, now)

    def on_bar(self, symbol: str, ts: datetime) -> None:
        last = self._last.get(symbol)
        if last is None or ts > last:
            self._last[symbol] = ts

    def stale(self, now: datetime) -> set[str]:
        return {s for s, last in self._last.items() if now - last > self.window}


class Pausable(Protocol):
    """What the watcher pauses: the portfolio's symbols without new orders, and its alerts."""

    paused: set[str]
    alerts: list[str]


class FeedWatch:
    """The stale-feed watcher of a run: a thread that pauses new orders on a symbol after
    ``periods`` granularity periods without a bar, and :meth:`on_bar` that resumes it.

    ``notify`` tells the user of a pause (from the watcher thread); a resumption goes to the
    portfolio's alerts, shown with the bar that brought it. ``label``: the granularity as the
    user wrote it, for the messages.
    """

    def __init__(
        self,
        target: Pausable,
        symbols: Sequence[str],
        granularity: Granularity,
        periods: int,
        notify: Callable[[str], None],
        *,
        label: str = "",
    ) -> None:
        self.target = target
        self.symbols = list(symbols)
        self.granularity = granularity
        self.periods = periods
        self.notify = notify
        self.label = label or str(granularity)
        self.feed = StaleFeed(granularity.seconds, periods=max(periods, 1))

    def on_bar(self, symbol: str, ts: datetime) -> None:
        """A bar of ``symbol`` starting at ``ts``: if its feed had gone stale, trading resumes."""
        self.feed.on_bar(symbol, ts + self.granularity.timedelta)
        if symbol in self.target.paused:
            self.target.paused.discard(symbol)
            self.target.alerts.append(f"{symbol}: bars are back; trading resumed.")
            log.warning("%s: bars are back; trading resumed", symbol)
            self._record("feed-resumed", symbol, own_connection=False)

    def start(self, stop: threading.Event) -> threading.Thread:
        """Watch on a daemon thread until ``stop`` is set."""
        thread = threading.Thread(target=self._watch, args=(stop,), name="stale-feed", daemon=True)
        thread.start()
        return thread

    def _watch(self, stop: threading.Event) -> None:
        self.feed.expect(self.symbols, datetime.now(UTC))
        while not stop.wait(1.0):
            for symbol in self.feed.stale(datetime.now(UTC)) - self.target.paused:
                self.target.paused.add(symbol)
                message = (
                    f"{symbol}: no bar for {self.periods} periods of "
                    f"{self.label}; trading paused until bars come back."
                )
                log.warning(message)
                self.notify(f"⏸  {message}")
                self._record("feed-paused", symbol, own_connection=True)

    def _record(self, kind: str, symbol: str, *, own_connection: bool) -> None:
        """Keep the pause or resumption in the target's ledger (``run_events``), if it has one:
        what ``stratequeue verify`` attributes refused orders to. The watcher thread writes on
        its own connection (a ledger in memory is another database there: not recorded)."""
        ledger = getattr(self.target, "ledger", None)
        if ledger is None:
            return
        detail = {"periods": self.periods, "granularity": self.label}
        run_id = int(getattr(self.target, "run_id", 0))
        try:
            if not own_connection:
                ledger.add_run_event(run_id, kind, detail, symbol=symbol)
            elif str(ledger.path) != ":memory:":
                from ..ledger import Ledger

                mine = Ledger(ledger.path)
                try:
                    mine.add_run_event(run_id, kind, detail, symbol=symbol)
                finally:
                    mine.close()
        except Exception:  # the pause itself must not fail for its record
            log.warning("could not record %s of %s in the ledger", kind, symbol, exc_info=True)
