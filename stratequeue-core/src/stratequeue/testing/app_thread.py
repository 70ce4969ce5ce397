"""A run (:class:`~stratequeue.app.App`) on a thread of its own, so that a test can act on it
while it runs: kill a worker, send a control, read the ledger."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

__all__ = ["AppThread"]


class AppThread:
    """``App(config)`` executed on a daemon thread: its notes (the lines it says) in
    :attr:`notes`, an exception it raised in :attr:`errors`. Events and the panel are not
    shown (``show_events=False``)."""

    def __init__(self, config: Any) -> None:
        from ..app import App

        self.notes: list[str] = []
        self.errors: list[BaseException] = []
        self.app = App(config, self, show_events=False)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self._go, name="app", daemon=True)

    def line(self, text: str) -> None:
        """The App's display: only its notes are kept."""
        self.notes.append(text)

    def _go(self) -> None:
        try:
            self.app.execute()
        except BaseException as exc:  # the test asserts on it
            self.errors.append(exc)

    def start(self) -> AppThread:
        self.thread.start()
        return self

    def kill_a_worker(self, after_bars: int, timeout: float = 120) -> tuple[int, int]:
        """SIGKILL the run's first worker once ``after_bars`` bars went through: (its pid,
        the bars seen then). Fails if the run ends first: the kill must land mid-run."""
        deadline = time.monotonic() + timeout
        app = self.app
        while app.bars_seen < after_bars and self.thread.is_alive():
            assert time.monotonic() < deadline, f"{after_bars} bars not reached in {timeout} s"
            time.sleep(0.01)
        executor = app.portfolio.executor
        assert executor is not None and self.thread.is_alive(), "the run ended before the kill"
        victim = executor.workers()[0]
        os.kill(victim, signal.SIGKILL)
        return victim, app.bars_seen

    def join(self, timeout: float) -> None:
        """Wait for the run's end; fail if it did not end or raised."""
        self.thread.join(timeout=timeout)
        assert not self.thread.is_alive(), f"the run did not end within {timeout} s"
        assert not self.errors, self.errors
