"""Runners sharded over workers (processes or Ray actors) that keep them between bars.

Sleeves are dealt to shards round-robin in the portfolio's order, so each shard holds a mix of
strategies and symbols. Per moment, every shard gets the bars in a few pieces, all sent at
once, and steps its runners piece after piece; results come back as plain data and are handed
to the portfolio bar by bar, in the sleeves' order (:class:`~.base.Executor`), so the ledger is
the inline run's. The portfolio books a piece's bars while the workers step the next pieces.
A change to a book (:meth:`ShardedExecutor._call`) waits for its worker's pieces: it reaches
the runner after the moment's step, as when the whole moment was stepped first.

A worker that dies is replaced: its runners are rebuilt from the ledger, as a restart rebuilds
them (warm start, then every recorded bar, event and real fill), shipped to the new worker,
and the bar is stepped again. Nothing of the lost step reached the ledger or the broker (the
portfolio writes a bar only after every runner of it stepped), so no fill is booked twice. A
real fill is recorded once it was applied to every strategy it nets: a worker lost in between
gets the parts applied so far again (:meth:`ShardedExecutor.journal`), then the lost one.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import StrateQueueError
from ..models import Bar
from .base import Executor, Respawn
from .shard import Key
from .shipping import dumps, loads, strategy_sources
from .views import RemoteRunner, TradeView

__all__ = ["ShardedExecutor", "WorkerLost"]

log = logging.getLogger("stratequeue.executors")


#: a moment's bars go to each worker in this many pieces (see ShardedExecutor.prefetch)
PIECES = 8


class WorkerLost(StrateQueueError):
    """A worker died (killed, out of memory, its node gone)."""


class Worker:
    """One worker: ``submit`` a Shard method call, ``result`` waits for its answer (raising
    :class:`WorkerLost` if the worker died)."""

    pid: int | None = None

    def submit(self, method: str, *args: Any) -> Any:
        raise NotImplementedError

    def result(self, pending: Any) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class ShardedExecutor(Executor):
    """Deals sleeves to ``size`` workers made by :meth:`spawn` (process or Ray actor)."""

    def __init__(
        self, size: int, respawn: Respawn | None = None, say: Callable[[str], None] | None = None
    ) -> None:
        if size < 1:
            raise StrateQueueError(f"An executor needs at least one worker (got {size}).")
        self.size = size
        self.respawn = respawn
        self.say = say or log.warning
        self.restarts = 0
        self._workers: list[Worker] = []
        self._sources: dict[str, tuple[str, str]] = {}
        self._home: dict[Key, Any] = {}  # key -> sleeve
        self._shard_of: dict[Key, int] = {}
        self._keys: list[dict[str, list[Key]]] = []  # per shard: symbol -> keys, in order
        self._ready: dict[Key, tuple[Any, Any, Any]] = {}  # key -> (bar time, step, view)
        #: per shard: pieces of the moment sent and not answered yet (bars, keys, pending)
        self._pending: list[deque[tuple[list[Bar], Any, Any]]] = []
        #: calls made inside :meth:`journal` (not in the ledger yet): (key, name, args)
        self._journal: list[tuple[Key, str, list[Any]]] | None = None

    # -- transport, given by subclasses -----------------------------------------------------
    def spawn(self, index: int) -> Worker:
        raise NotImplementedError

    # -- set-up -----------------------------------------------------------------------------
    def attach(self, sleeves: Sequence[Any]) -> None:
        self._sources = strategy_sources(sleeves)
        count = min(self.size, max(1, len(sleeves)))
        self._keys = [defaultdict(list) for _ in range(count)]
        shipped: list[list[tuple[Key, bytes, int]]] = [[] for _ in range(count)]
        for n, sleeve in enumerate(sleeves):
            key = (sleeve.strategy_id, sleeve.symbol)
            shard = n % count
            self._home[key] = sleeve
            self._shard_of[key] = shard
            self._keys[shard][sleeve.symbol].append(key)
            runner = sleeve.runner
            shipped[shard].append((key, dumps(runner), len(runner.closed_trades)))
        self._workers = [self.spawn(i) for i in range(count)]
        self._pending = [deque() for _ in range(count)]
        pending = [w.submit("add", batch) for w, batch in zip(self._workers, shipped, strict=True)]
        for shard, (worker, wait) in enumerate(zip(self._workers, pending, strict=True)):
            views = self._answer(shard, worker, wait, lambda: None)
            for key, view in views.items():
                sleeve = self._home[key]
                closed = [
                    TradeView(None, t.size, t.entry_price, float(t.pl))
                    for t in sleeve.runner.closed_trades
                ]
                sleeve.runner = RemoteRunner(key, key[0], key[1], view, closed, self._call)

    def workers(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None]

    # -- bars -------------------------------------------------------------------------------
    def prefetch(self, bars: Sequence[Bar]) -> None:
        """Send the moment's bars to every worker in :data:`PIECES` pieces, without waiting:
        the portfolio books the first piece's bars while the workers step the next ones."""
        if len(bars) <= 1:
            return
        size = -(-len(bars) // PIECES)
        for start in range(0, len(bars), size):
            piece = list(bars[start : start + size])
            symbols = {b.symbol for b in piece}
            for i, worker in enumerate(self._workers):
                keys = {s: k for s, k in self._keys[i].items() if s in symbols}
                if keys:
                    self._pending[i].append((piece, keys, self._send(worker, "step", piece, keys)))

    def step(self, bar: Bar, sleeves: Sequence[Any]) -> list[tuple[Any, Any]]:
        keys = [(s.strategy_id, s.symbol) for s in sleeves]

        def missing() -> list[Key]:
            ready = self._ready
            return [k for k in keys if k not in ready or ready[k][0] != bar.timestamp]

        for shard in sorted({self._shard_of[k] for k in missing()}):
            while self._pending[shard] and any(self._shard_of[k] == shard for k in missing()):
                self._take(shard)
        lost = missing()  # not sent ahead, or its worker was lost: stepped now
        if lost:
            self._step_shards([bar], sorted({self._shard_of[k] for k in lost}))
        out = []
        for sleeve, key in zip(sleeves, keys, strict=True):
            _, step, view = self._ready.pop(key)
            sleeve.runner.update(view)
            out.append((sleeve, step))
        return out

    def _step_shards(self, bars: Sequence[Bar], shards: Sequence[int]) -> None:
        symbols = {b.symbol for b in bars}
        asked = {
            i: {s: k for s, k in self._keys[i].items() if s in symbols}
            for i in shards
            if any(s in symbols for s in self._keys[i])
        }
        pending = {
            i: self._send(self._workers[i], "step", list(bars), keys) for i, keys in asked.items()
        }
        for i, wait in pending.items():
            again = lambda i=i: self._workers[i].submit("step", list(bars), asked[i])  # noqa: E731
            for key, n, step, view in self._answer(i, self._workers[i], wait, again):
                self._ready[key] = (bars[n].timestamp, step, view)

    def _take(self, shard: int) -> None:
        """The answer to ``shard``'s oldest piece, into the ready steps (a worker answers in
        the order it was asked). A lost worker is restarted and its pieces dropped: the bars
        not yet booked are stepped again, one by one, by :meth:`step`."""
        piece, _, wait = self._pending[shard].popleft()
        worker = self._workers[shard]
        try:
            if isinstance(wait, WorkerLost):
                raise wait
            answer = worker.result(wait)
        except WorkerLost as lost:
            self._restart(shard, str(lost))
            return
        for key, n, step, view in answer:
            self._ready[key] = (piece[n].timestamp, step, view)

    # -- changes to a book between steps ------------------------------------------------------
    def _call(self, runner: RemoteRunner, name: str, args: Sequence[Any]) -> Any:
        shard = self._shard_of[runner.key]
        while self._pending[shard]:  # the worker steps the moment's pieces first, in order
            self._take(shard)

        def again() -> Any:
            return self._workers[shard].submit("call", runner.key, name, list(args))

        pending = self._send(self._workers[shard], "call", runner.key, name, list(args))
        result, view = self._answer(shard, self._workers[shard], pending, again)
        ready = self._ready.get(runner.key)
        if ready is not None:  # its step is not handed out yet: it gets this (newer) view
            when, step, stepped = ready
            view.closed_new = stepped.closed_new + view.closed_new
            self._ready[runner.key] = (when, step, view)
        runner.update(view)
        if self._journal is not None:
            self._journal.append((runner.key, name, list(args)))
        return result

    @contextmanager
    def journal(self) -> Iterator[None]:
        if self._journal is not None:  # nested: the outer block keeps the calls
            yield
            return
        self._journal = []
        try:
            yield
        finally:
            self._journal = None

    # -- a lost worker ----------------------------------------------------------------------
    @staticmethod
    def _send(worker: Worker, method: str, *args: Any) -> Any:
        """``worker.submit``; a worker lost before the request went out is kept as the pending
        answer, so :meth:`_answer` restarts it like one lost while stepping."""
        try:
            return worker.submit(method, *args)
        except WorkerLost as lost:
            return lost

    def _answer(self, shard: int, worker: Worker, pending: Any, again: Callable[[], Any]) -> Any:
        try:
            if isinstance(pending, WorkerLost):
                raise pending
            return worker.result(pending)
        except WorkerLost as lost:
            self._restart(shard, str(lost))
            return self._workers[shard].result(again())

    def _restart(self, shard: int, why: str) -> None:
        old = self._workers[shard]
        keys = [k for group in self._keys[shard].values() for k in group]
        if self.respawn is None:
            raise WorkerLost(f"{why}; no ledger to rebuild its {len(keys)} runner(s) from.")
        self.restarts += 1
        self.say(
            f"⚠️  Worker {shard + 1} (pid {old.pid}) was lost ({why}): restarting it and "
            f"rebuilding its {len(keys)} runner(s) from the ledger; the bar is stepped again."
        )
        for key in keys:
            self._ready.pop(key, None)
        self._pending[shard].clear()
        old.stop()
        worker = self._workers[shard] = self.spawn(shard)
        shipped = []
        for key in keys:
            runner = self.respawn(*key)
            shipped.append((key, dumps(runner), len(runner.closed_trades)))
        views = worker.result(worker.submit("add", shipped))
        for key, name, args in self._journal or ():  # what the ledger does not hold yet
            if key in views:
                _, view = worker.result(worker.submit("call", key, name, args))
                view.closed_new = []  # the stand-in has the trades these calls closed
                views[key] = view
        for key, view in views.items():
            proxy = self._home[key].runner
            proxy.update(view)

    # -- the end ----------------------------------------------------------------------------
    def detach(self) -> None:
        if not self._workers:
            return
        for shard in range(len(self._workers)):
            while self._pending[shard]:
                self._take(shard)
        pending = [
            (i, w.submit("recall", [k for g in self._keys[i].values() for k in g]))
            for i, w in enumerate(self._workers)
        ]
        for i, wait in pending:
            for key, data in self._workers[i].result(wait).items():
                self._home[key].runner = loads(data)
        self._ready.clear()

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []
