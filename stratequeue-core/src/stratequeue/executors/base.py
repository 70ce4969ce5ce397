"""The executor interface, and the inline executor (every runner in this process, as before).

An executor steps the runners of a bar's symbol and hands back, in the sleeves' order, each
runner's :class:`~stratequeue.engine.BarStep`: the portfolio then does everything else (the
ledger, routing, the broker) in the main process, so the ledger a run writes does not depend
on where its runners ran. :meth:`Executor.prefetch` lets an executor step the bars of one
moment for all symbols at once (in parallel); their results are handed out bar by bar,
each runner's view changing only when the portfolio reaches its bar, as inline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..models import Bar

__all__ = ["Executor", "InlineExecutor", "Respawn"]

#: (strategy id, symbol) -> a fresh runner rebuilt from the ledger (a restart's warm start)
Respawn = Callable[[str, str], Any]


class Executor:
    """Where runners run. The base class is the inline executor."""

    name = "inline"

    def attach(self, sleeves: Sequence[Any]) -> None:
        """Take charge of ``sleeves``' runners (before the first bar of a run)."""

    def prefetch(self, bars: Sequence[Bar]) -> None:
        """Step ``bars`` (one each of distinct symbols, same moment) ahead of the portfolio."""

    def step(self, bar: Bar, sleeves: Sequence[Any]) -> list[tuple[Any, Any]]:
        """Each of ``sleeves`` (the bar's symbol's, in order) with its runner's BarStep."""
        return [(sleeve, sleeve.runner.on_bar(bar)) for sleeve in sleeves]

    @contextmanager
    def journal(self) -> Iterator[None]:
        """Changes to books (``RemoteRunner`` calls) that the ledger records only at the end of
        the block (a real fill applied to each strategy it nets): a worker lost inside the
        block gets them again after its rebuild, before the lost call is retried."""
        yield

    def detach(self) -> None:
        """Give the runners back to their sleeves (after the last bar)."""

    def close(self) -> None:
        """Stop the workers."""

    def workers(self) -> list[int]:
        """Process ids of the workers (none inline)."""
        return []


class InlineExecutor(Executor):
    """Every runner in this process, one after the other."""
