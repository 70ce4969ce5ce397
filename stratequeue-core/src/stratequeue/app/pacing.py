"""The run's helper threads, which only signal the run's thread (see controls.py):
:class:`Heartbeat` keeps ``runs.heartbeat_at`` fresh on its own ledger connection and sets an
event when a control request waits; :func:`paced` reads a live source's bars on a thread, in
step with the run, so that the run's thread can wake between slow bars."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..ledger.controls import HEARTBEAT_SECONDS, ControlRecords
from ..models import Bar

__all__ = ["Heartbeat", "paced"]

log = logging.getLogger(__name__)


class Heartbeat:
    """A daemon thread that writes the run's heartbeat every second, on its own connection,
    and sets ``pending`` when a control request waits."""

    def __init__(self, db: str | Path, run_id: int, pending: threading.Event) -> None:
        self.db, self.run_id, self.pending = db, run_id, pending
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        records = ControlRecords(self.db)
        records.beat(self.run_id)  # alive from the first bar on, not one period later
        self._thread = threading.Thread(
            target=self._beat, args=(records,), name="heartbeat", daemon=True
        )
        self._thread.start()

    def _beat(self, records: ControlRecords) -> None:
        try:
            while True:
                if records.has_pending_controls():
                    self.pending.set()
                if self._stop.wait(HEARTBEAT_SECONDS):
                    return
                records.beat(self.run_id)
        except Exception:  # the run goes on; the commands will say it is not active
            log.warning("heartbeat stopped", exc_info=True)
        finally:
            records.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


_END = object()


def paced(bars: Iterator[Bar], pending: threading.Event, stop: threading.Event) -> Iterator[Any]:
    """``bars`` read on a helper thread, in step with the caller: the next bar is asked for
    only when the caller asks for it (after the previous one is durable), as without the
    thread. Yields each bar, and None whenever ``pending`` is set while no bar comes, so that
    the caller applies controls within a second between slow bars."""
    box: queue.SimpleQueue[Any] = queue.SimpleQueue()
    want, done = threading.Event(), threading.Event()

    def pump() -> None:
        item: Any = _END
        try:
            for bar in _asked(bars, want, done):
                box.put(bar)
        except BaseException as exc:  # handed to the run's thread, raised there
            item = exc
        box.put(item)

    threading.Thread(target=pump, name="bars", daemon=True).start()
    want.set()
    try:
        while True:
            try:
                item = box.get(timeout=0.25)
            except queue.Empty:
                if pending.is_set() and not stop.is_set():
                    yield None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            want.set()
    finally:
        done.set()


def _asked(bars: Iterator[Bar], want: threading.Event, done: threading.Event) -> Iterator[Bar]:
    """Each next bar of ``bars``, once ``want`` is set (until ``done``)."""
    iterator = iter(bars)
    while True:
        while not want.wait(0.25):
            if done.is_set():
                return
        want.clear()
        if done.is_set():
            return
        bar = next(iterator, None)
        if bar is None:
            return
        yield bar
