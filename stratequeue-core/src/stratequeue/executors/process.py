"""``--executor process``: one worker process per core, each holding a shard of runners.

Workers are started with ``spawn`` (a clean interpreter: no copy of the main process's
threads, sockets or ledger connection) and talk over a pipe: a Shard method call goes out,
its answer and the worker's log records come back. A worker that dies shows as a closed pipe.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from .shard import Shard
from .sharded import ShardedExecutor, Worker, WorkerLost

__all__ = ["ProcessExecutor", "serve"]


class _Records(logging.Handler):
    """The worker's log records, sent back with each answer and logged in the main process."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))

    def take(self) -> list[tuple[str, int, str]]:
        records, self.records = self.records, []
        return records


def serve(conn: Connection, sources: Mapping[str, tuple[str, str]], level: int) -> None:
    """A worker's loop: Shard method calls in, (status, answer, log records) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the main process, which stops us
    records = _Records()
    root = logging.getLogger()
    root.handlers[:] = [records]
    root.setLevel(level)
    shard = Shard(sources)
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            return
        if method == "stop":
            return
        try:
            answer: tuple[str, Any] = ("ok", getattr(shard, method)(*args))
        except Exception as exc:  # the strategy's error: raised again in the main process
            answer = ("error", exc)
        try:
            conn.send((*answer, records.take()))
        except Exception as exc:  # an answer that does not pickle
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), records.take()))


class _ProcessWorker(Worker):
    def __init__(self, context: Any, sources: Mapping[str, tuple[str, str]]) -> None:
        self.conn, child = context.Pipe()
        level = logging.getLogger().getEffectiveLevel()
        self.process = context.Process(
            target=serve, args=(child, dict(sources), level), daemon=True, name="stratequeue-shard"
        )
        self.process.start()
        child.close()
        self.pid = self.process.pid

    def submit(self, method: str, *args: Any) -> Any:
        try:
            self.conn.send((method, args))
        except (BrokenPipeError, ConnectionResetError, EOFError) as exc:
            raise WorkerLost(self._gone()) from exc
        return None

    def result(self, pending: Any) -> Any:
        try:
            status, answer, records = self.conn.recv()
        except (EOFError, ConnectionResetError, OSError) as exc:
            raise WorkerLost(self._gone()) from exc
        for name, level, message in records:
            logging.getLogger(name).log(level, "%s", message)
        if status == "error":
            raise answer
        return answer

    def _gone(self) -> str:
        self.process.join(timeout=10)  # a killed child is reaped late on a loaded machine
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exited with code {code}" if code is not None else "its pipe closed"

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(("stop", ()))
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


class ProcessExecutor(ShardedExecutor):
    """Runners in worker processes: one per core by default."""

    name = "process"

    def __init__(self, size: int | None = None, **kwargs: Any) -> None:
        super().__init__(size or os.cpu_count() or 1, **kwargs)
        self._context = multiprocessing.get_context("spawn")

    def spawn(self, index: int) -> Worker:
        return _ProcessWorker(self._context, self._sources)
