"""A live source's bars, read on a helper thread in step with the run (:func:`paced`), and
gathered into moments: the bars of one time, which the run steps together (in parallel with
the process and ray executors) and snapshots once.

In step: the source is asked for its next bar only when the run needs one, as without the
thread, so that a bar is processed and durable before the next is awaited. The thread is
there so that the run's thread can wake between slow bars: while no bar comes and a control
request is pending, the feed yields None and the run applies it.

Gathering: when a bar of time T comes and the run expects bars of several symbols, the feed
reads on for the other symbols' bars of T. It yields the moment as soon as every expected
symbol has a bar of T, without asking the source for anything more (a read past a complete
moment could move a broker-driving source to the next bar before this one's orders are
sent; see :func:`stratequeue.app.moments.moments`), or when the gather window has passed
since the moment's gathering began, with the bars that came. A bar of another time, or a
second bar of a symbol already in the moment, ends the moment and begins the next one.

The window is a trade-off. A symbol with no bar this period (illiquid, halted, a slow feed)
delays every other symbol's decision by the whole window; a short window steps stragglers
alone, one moment per bar, as before gathering existed, losing the parallel step and paying
one snapshot write per bar. The default, :func:`gather_window`, is a twentieth of the bar
interval, at most one second (1 s for minute bars, 50 ms for second bars):
``RunConfig.gather`` sets it; 0 turns gathering off. While a moment is being gathered,
pending controls wait for it (at most the window). With one symbol nothing is gathered:
each bar is yielded as it comes.

Each bar keeps the wall-clock time it came out of the source (:class:`Arrived`), not the
time its moment was yielded: verify tells late bars by it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..models import Bar

__all__ = ["Arrived", "accepted", "gather_window", "paced"]

#: the default window's share of the bar interval, and its ceiling in seconds
GATHER_SHARE, GATHER_CEILING = 0.05, 1.0

_END = object()  # the source ended
_NOTHING = object()  # no bar within the wait


@dataclass(frozen=True)
class Arrived:
    """Live bars of one time, each with when it came out of the source (``received``)."""

    bars: tuple[Bar, ...]
    received: tuple[datetime, ...]

    def pairs(self) -> list[tuple[Bar, datetime | None]]:
        """Each bar with its time."""
        return list(zip(self.bars, self.received, strict=True))


def accepted(
    item: Arrived | Sequence[Bar], accept: Callable[..., bool], *, live: bool
) -> tuple[list[Bar], list[datetime | None]]:
    """The bars of a moment (a live one's or a replay's) that ``accept`` keeps (a live bar is
    also checked for a time in the future), each with when it came (None in a replay)."""
    pairs = item.pairs() if isinstance(item, Arrived) else [(b, None) for b in item]
    kept = [(bar, at) for bar, at in pairs if accept(bar, check_future=live)]
    return [bar for bar, _ in kept], [at for _, at in kept]


def gather_window(gather: float | None, interval: float) -> float:
    """Seconds to wait for the rest of a moment: ``gather`` if given, else a twentieth of the
    bar ``interval`` (seconds), at most a second (the trade-off: see the module)."""
    if gather is not None:
        return gather
    return min(GATHER_CEILING, GATHER_SHARE * interval)


def paced(
    bars: Iterator[Bar],
    pending: threading.Event,
    stop: threading.Event,
    *,
    expected: int = 1,
    window: float = 0.0,
) -> Iterator[Arrived | None]:
    """``bars`` read on a helper thread, in step with the caller, gathered into moments of
    up to ``expected`` bars within ``window`` seconds (see the module). Yields each moment,
    and None whenever ``pending`` is set while no bar comes. A source's exception is raised
    here, on the caller's thread, after the bars gathered before it."""
    reader = _Reader(bars)
    try:
        yield from _gathered(reader, pending, stop, expected if window > 0 else 1, window)
    finally:
        reader.close()


def _gathered(
    reader: _Reader,
    pending: threading.Event,
    stop: threading.Event,
    expected: int,
    window: float,
) -> Iterator[Arrived | None]:
    held: tuple[Bar, datetime] | None = None  # the bar that ended the previous moment
    while True:
        if held is None:
            reader.ask()
            item = reader.take(0.25)
            if item is _NOTHING:
                if pending.is_set() and not stop.is_set():
                    yield None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            first = item
        else:
            first, held = held, None
        group: list[tuple[Bar, datetime]] = [first]
        symbols = {first[0].symbol}
        end: Any = None
        # from when gathering begins: a held bar's window must not have run out meanwhile
        deadline = time.monotonic() + window
        while len(group) < expected and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            reader.ask()
            item = reader.take(min(left, 0.25))  # in slices: a stop is seen
            if item is _NOTHING:
                continue
            if item is _END or isinstance(item, BaseException):
                end = item
                break
            bar = item[0]
            if bar.timestamp != first[0].timestamp or bar.symbol in symbols:
                held = item
                break
            group.append(item)
            symbols.add(bar.symbol)
        yield Arrived(tuple(b for b, _ in group), tuple(t for _, t in group))
        if end is _END:
            return
        if end is not None:
            raise end


class _Reader:
    """The source, read on a daemon thread: one bar per :meth:`ask`, never more, so that the
    source is not read ahead of what the caller asked for."""

    def __init__(self, bars: Iterator[Bar]) -> None:
        self._box: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._want, self._done = threading.Event(), threading.Event()
        self._asked = False  # a bar was asked for and has not come yet
        threading.Thread(target=self._pump, args=(bars,), name="bars", daemon=True).start()

    def _pump(self, bars: Iterator[Bar]) -> None:
        item: Any = _END
        try:
            for bar in _asked(bars, self._want, self._done):
                self._box.put((bar, datetime.now(UTC)))  # when it came: verify's late bars
        except BaseException as exc:  # handed to the run's thread, raised there
            item = exc
        self._box.put(item)

    def ask(self) -> None:
        """The next bar, unless one is asked for already."""
        if not self._asked:
            self._asked = True
            self._want.set()

    def take(self, timeout: float) -> Any:
        """What came within ``timeout`` seconds: (bar, received), _END, the source's
        exception, or _NOTHING."""
        try:
            item = self._box.get(timeout=timeout)
        except queue.Empty:
            return _NOTHING
        self._asked = False
        return item

    def close(self) -> None:
        """The thread stops at its next ask (a source blocked in its next bar: when it ends)."""
        self._done.set()


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
