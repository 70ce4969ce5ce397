"""IB's historical-data pacing: at most 60 requests in any 10 minutes, and no identical request
within 15 seconds (TWS answers a violation with error 162 and may disconnect). The pacer makes
each request wait its turn; :mod:`stratequeue_ib.source` retries a violation all the same."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable

__all__ = ["Pacer"]


class Pacer:
    def __init__(
        self,
        per_window: int = 60,
        window: float = 600.0,
        same_gap: float = 15.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window = per_window
        self.window = window
        self.same_gap = same_gap
        self.clock = clock
        self._sent: deque[float] = deque()
        self._last: dict[Hashable, float] = {}

    def delay(self, key: Hashable) -> float:
        """Seconds until a request ``key`` may go (0: now)."""
        now = self.clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        wait = 0.0
        if len(self._sent) >= self.per_window:
            wait = self._sent[0] + self.window - now
        last = self._last.get(key)
        if last is not None:
            wait = max(wait, last + self.same_gap - now)
        return max(wait, 0.0)

    def note(self, key: Hashable) -> None:
        now = self.clock()
        self._sent.append(now)
        self._last[key] = now
        for old in [k for k, at in self._last.items() if now - at >= self.same_gap]:
            del self._last[old]

    def wait(self, key: Hashable, sleep: Callable[[float], bool]) -> bool:
        """Wait (``sleep(seconds)``, True when the run stopped meanwhile) until ``key`` may go,
        then count it sent. True when stopped."""
        while (seconds := self.delay(key)) > 0:
            if sleep(seconds):
                return True
        self.note(key)
        return False
