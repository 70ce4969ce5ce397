"""The run's helper threads, which only signal the run's thread (see controls.py):
:class:`Heartbeat` keeps ``runs.heartbeat_at`` fresh on its own ledger connection and sets an
event when a control request waits. A live source's bars are read on a thread too, in step
with the run and gathered into moments: :func:`stratequeue.app.live_feed.paced`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ..ledger.controls import HEARTBEAT_SECONDS, ControlRecords

__all__ = ["Heartbeat"]

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
