"""Order requests (POST, PUT, DELETE) stay under Schwab's per-app limit (120 a minute)."""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["OrderRateLimit"]


class OrderRateLimit:
    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more order request fits in the window, then count it."""
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                delay = self.window - (now - self._sent[0])
            time.sleep(max(delay, 0.001))
