"""The worker side: a shard of runners, kept between bars, stepped a batch of bars at a time.

The same class serves a worker process (:mod:`.process`) and a Ray actor (:mod:`.ray`). Its
methods take and return plain data: bars in; each runner's :class:`BarStep` and view out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..engine import flatten
from ..models import Bar
from .shipping import dumps, install_sources, loads
from .views import RUNNER_CALLS, RunnerView, view_of

__all__ = ["Key", "Shard"]

Key = tuple[str, str]  # (strategy id, symbol)


class Shard:
    """Runners by (strategy, symbol), with the strategy modules they were shipped with."""

    def __init__(self, sources: Mapping[str, tuple[str, str]]) -> None:
        install_sources(sources)
        self.runners: dict[Key, Any] = {}
        self.closed_seen: dict[Key, int] = {}

    def pid(self) -> int:
        import os

        return os.getpid()

    def add(self, shipped: Sequence[tuple[Key, bytes, int]]) -> dict[Key, RunnerView]:
        """Take runners (pickled by :func:`.shipping.dumps`, with closed trades already seen)."""
        views = {}
        for key, data, closed_seen in shipped:
            self.runners[key] = loads(data)
            self.closed_seen[key] = closed_seen
            views[key] = self._view(key)
        return views

    def _view(self, key: Key) -> RunnerView:
        runner = self.runners[key]
        view = view_of(runner, self.closed_seen[key])
        self.closed_seen[key] = len(runner.closed_trades)
        return view

    def step(
        self, bars: Sequence[Bar], keys: Mapping[str, Sequence[Key]]
    ) -> list[tuple[Key, int, Any, RunnerView]]:
        """Each bar to its symbol's runners here, in the order given: (key, bar number in
        ``bars``, BarStep, view)."""
        out = []
        for n, bar in enumerate(bars):
            for key in keys.get(bar.symbol, ()):
                step = self.runners[key].on_bar(bar)
                out.append((key, n, step, self._view(key)))
        return out

    def call(self, key: Key, name: str, args: Sequence[Any]) -> tuple[Any, RunnerView]:
        """A :mod:`stratequeue.engine.flatten` function, or one of :data:`RUNNER_CALLS`, on
        one runner."""
        runner = self.runners[key]
        if name in RUNNER_CALLS:
            result = getattr(runner, name)(*args)
        else:
            result = getattr(flatten, name)(runner, *args)
        return result, self._view(key)

    def recall(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """The runners themselves, pickled, to go back to the main process."""
        return {key: dumps(self.runners.pop(key)) for key in keys}
