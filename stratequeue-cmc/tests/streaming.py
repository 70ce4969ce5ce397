"""Runs a source's blocking ``stream()`` in a thread and hands its bars to the test."""

from __future__ import annotations

import queue
import threading
import time

from stratequeue.models import Bar

_DONE = object()


class StreamRunner:
    def __init__(self, source, symbols: list[str]) -> None:
        self.source = source
        self.bars: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(symbols,), daemon=True)
        self.thread.start()

    def _run(self, symbols: list[str]) -> None:
        try:
            for bar in self.source.stream(symbols):
                self.bars.put(bar)
        except BaseException as exc:
            self.error = exc
        finally:
            self.bars.put(_DONE)

    def take(self, n: int, timeout: float = 5.0) -> list[Bar]:
        out: list[Bar] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                item = self.bars.get(timeout=max(0.01, left))
            except queue.Empty:
                raise AssertionError(f"got {len(out)} of {n} bars: {out}") from None
            if item is _DONE:
                raise AssertionError(f"stream ended after {out}: {self.error!r}")
            out.append(item)
        return out

    def quiet(self, seconds: float = 0.3) -> list[Bar]:
        """Whatever arrives within ``seconds`` (expected: nothing)."""
        time.sleep(seconds)
        out = []
        while not self.bars.empty():
            item = self.bars.get()
            if item is not _DONE:
                out.append(item)
        return out

    def stop(self) -> float:
        started = time.monotonic()
        self.source.stop()
        self.thread.join(5)
        assert not self.thread.is_alive(), "stream() did not return after stop()"
        return time.monotonic() - started
