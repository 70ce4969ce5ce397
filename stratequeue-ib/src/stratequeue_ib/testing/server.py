"""The fake TWS server: asyncio on 127.0.0.1 in a background thread, and its handle.

Tests call the handle from their own thread; every call hops onto the server's loop, where the
:class:`~.exchange.Exchange` lives.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from . import encoders as enc
from .exchange import Exchange, Refusal
from .session import Session
from .state import FakeExecution, FakeOrder
from .tape import TapeBar, walk

__all__ = ["FakeTWS", "Received"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: what a fault does to the next request of its kind: ``pace`` answers error 100 (more than
#: 50 messages a second) and places nothing (a history request: error 162, pacing violation); ``drop`` closes the connection before the request
#: takes effect, ``drop-after`` right after it did
FaultAction = Literal["pace", "drop", "drop-after"]


@dataclass(frozen=True)
class Received:
    """One message the fake received: from which client, its fields as sent."""

    client_id: int | None
    fields: tuple[str, ...]
    at: float  # time.monotonic() when it arrived

    @property
    def msg_id(self) -> int:
        return int(self.fields[0])


class FakeTWS:
    """``with FakeTWS() as tws:`` serves on ``tws.host:tws.port`` until the block ends.

    ``accounts`` are the managed accounts it reports (the first one holds the positions).
    """

    def __init__(
        self, accounts: tuple[str, ...] = ("DU123456",), port: int = 0, cash: float = 100_000.0
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.exchange = Exchange(accounts, cash)
        self.log: list[Received] = []
        self.connections = 0  # handshakes seen, for tests of reconnects
        self._sessions: list[Session] = []
        self._faults: dict[str, list[FaultAction]] = {}
        self.refusing = False  # close new connections at once (TWS down, or restarting)
        self.link_down = False  # TWS lost IB's servers (error 1100): nothing is pushed
        self.ack_delay = 0.0  # seconds before an order's openOrder/orderStatus go out
        self.commissions = True  # False: executions come without their commission report
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-tws", daemon=True)
        self._server: asyncio.Server | None = None
        self._log_lock = threading.Lock()
        #: 5-second bars per tape key (``AAPL``, ``EURUSD``); see :mod:`.tape`
        self.tape: dict[str, list[TapeBar]] = {}
        #: TWS's clock: the end of a history request with no endDateTime
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._live: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeTWS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        self.exchange.notify = self._notify
        self.exchange.schedule = self._schedule
        self._server = self._on_loop_async(self._serve())

    async def _serve(self) -> asyncio.Server:
        server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def stop(self) -> None:
        async def close() -> None:
            if self._live is not None:
                self._live.cancel()
            if self._server is not None:
                self._server.close()
            for session in list(self._sessions):
                session.close()

        self._on_loop_async(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        session = Session(self, reader, writer)
        self._sessions.append(session)
        self.connections += 1
        await session.run()

    def _on_loop_async(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def _on_loop(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        result: T = self._on_loop_async(call())
        return result

    # -- what sessions call ------------------------------------------------------------------
    def received(self, session: Session, fields: list[str]) -> None:
        with self._log_lock:
            self.log.append(Received(session.client_id, tuple(fields), time.monotonic()))

    def gone(self, session: Session) -> None:
        if session in self._sessions:
            self._sessions.remove(session)

    def client_in_use(self, client_id: int, asking: Session) -> bool:
        return any(s.client_id == client_id and s is not asking for s in self._sessions)

    def take_fault(self, kind: str) -> FaultAction | None:
        queue = self._faults.get(kind)
        return queue.pop(0) if queue else None

    def drop(self) -> None:
        """Close every client connection (as TWS does for its nightly reset)."""
        for session in list(self._sessions):
            session.close()
            self.gone(session)

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        if delay <= 0:
            fn()
        else:
            self._loop.call_later(delay, fn)

    def _notify(self, kind: str, obj: object) -> None:
        if self.link_down:
            return
        if kind == "order":
            assert isinstance(obj, FakeOrder)
            messages = [enc.open_order(obj), enc.order_status(obj)]

            def answer() -> None:
                for s in self._sessions:
                    if s.client_id == obj.client_id:
                        s.send_all(messages)

            self._schedule(self.ack_delay, answer)
        elif kind == "execution":
            assert isinstance(obj, FakeExecution)
            for s in self._sessions:
                if s.client_id == obj.order.client_id:
                    s.send(enc.exec_details(-1, obj))
                    if self.commissions:
                        s.send(enc.commission_report(obj))
            self._push_account()

    def _push_account(self) -> None:
        ex = self.exchange
        for s in self._sessions:
            if s.positions:
                for instrument, qty, cost in ex.positions.values():
                    avg = cost / qty if qty else 0.0
                    s.send(enc.position(ex.account, instrument, qty, avg))
            if s.account_updates:
                s.send_account_values()
                s.send_portfolio()

    # -- the test's handle ---------------------------------------------------------------------
    def set_price(self, symbol: str, price: float) -> None:
        self._on_loop(lambda: self.exchange.set_price(symbol, price))

    def fill(self, order_ref: str, qty: float | None = None, price: float | None = None) -> None:
        """Execute ``qty`` (default: the rest) of the working order ``order_ref`` at ``price``
        (default: the last price), whatever its terms."""

        def run() -> None:
            order = self.exchange.order_by_ref(order_ref)
            if order is None or not order.is_open:
                raise KeyError(f"the fake TWS has no working order with orderRef {order_ref!r}")
            at = price if price is not None else self.exchange.prices[order.instrument.symbol]
            self.exchange.execute(order, order.remaining if qty is None else qty, at)

        self._on_loop(run)

    def reject_next(self, code: int = 201, message: str = "Order rejected - reason: test") -> None:
        self._on_loop(lambda: self.exchange.refusals.append(Refusal(code, message)))

    def fault(
        self, kind: Literal["submit", "positions", "history"], action: FaultAction, times: int = 1
    ) -> None:
        """Make the next ``times`` requests of ``kind`` misbehave (see :data:`FaultAction`)."""
        self._on_loop(lambda: self._faults.setdefault(kind, []).extend([action] * times))

    def configure(
        self,
        *,
        hold: bool | None = None,
        fill_delay: float | None = None,
        partial_fills: int | None = None,
        ack_delay: float | None = None,
        commissions: bool | None = None,
    ) -> None:
        """``hold``: market orders wait for the next price; ``fill_delay``: seconds before each
        execution; ``partial_fills``: executions per fill; ``ack_delay``: seconds before TWS
        answers an order (it is placed at once); ``commissions=False``: no commission report
        follows a live execution."""

        def run() -> None:
            if commissions is not None:
                self.commissions = commissions
            if ack_delay is not None:
                self.ack_delay = ack_delay
            if hold is not None:
                self.exchange.hold = hold
            if fill_delay is not None:
                self.exchange.fill_delay = fill_delay
            if partial_fills is not None:
                self.exchange.partial_fills = partial_fills

        self._on_loop(run)

    def drop_connections(self, *, refuse: bool = False) -> None:
        """Close every connection; ``refuse``: and close new ones until :meth:`accept`."""

        def run() -> None:
            self.refusing = refuse
            self.drop()

        self._on_loop(run)

    def lose_link(self) -> None:
        """Error 1100 to every client: executions go on but are not pushed until
        :meth:`restore_link` (which says 1102: the client must ask for what it missed)."""

        def run() -> None:
            self.link_down = True
            for s in self._sessions:
                s.send(
                    enc.error(
                        -1, 1100, "Connectivity between IB and Trader Workstation has been lost."
                    )
                )

        self._on_loop(run)

    def restore_link(self) -> None:
        def run() -> None:
            self.link_down = False
            for s in self._sessions:
                s.send(
                    enc.error(
                        -1,
                        1102,
                        "Connectivity between IB and Trader Workstation has been restored - data maintained.",
                    )
                )

        self._on_loop(run)

    def accept(self) -> None:
        self._on_loop(lambda: setattr(self, "refusing", False))

    def sessions(self) -> int:
        return self._on_loop(lambda: len([s for s in self._sessions if s.client_id is not None]))

    def places(self, order_ref: str) -> int:
        """placeOrder messages carrying ``order_ref`` (index 26) that reached the fake."""
        with self._log_lock:
            return sum(1 for r in self.log if r.fields[0] == "3" and r.fields[26] == order_ref)

    def received_ids(self) -> list[int]:
        with self._log_lock:
            return [r.msg_id for r in self.log]

    # -- market data -------------------------------------------------------------------------
    def seed_bars(self, key: str, bars: list[TapeBar]) -> None:
        """Put 5-second bars on ``key``'s tape (history sees them; nothing is pushed)."""
        self._on_loop(lambda: self.tape.setdefault(key, []).extend(bars))

    def seed_walk(
        self, key: str, start: datetime, count: int, price: float, seed: int = 7
    ) -> list[TapeBar]:
        """``count`` 5-second bars of a random walk from ``start`` on ``key``'s tape."""
        bars = walk(start, count, price, seed)
        self.seed_bars(key, bars)
        return bars

    def push_bars(self, key: str, bars: list[TapeBar]) -> None:
        """Bars that happen now: on the tape, sent to every real-time subscription of ``key``
        (none while the connection is down: history has them), and the last price for orders."""
        self._on_loop(lambda: self._push(key, bars))

    def push_walk(self, key: str, count: int, seed: int = 11) -> list[TapeBar]:
        """The next ``count`` 5-second bars of ``key``, continuing its tape."""

        def run() -> list[TapeBar]:
            last = self.tape[key][-1]
            bars = walk(datetime.fromtimestamp(last.time + 5, UTC), count, last.close, seed)
            self._push(key, bars)
            return bars

        return self._on_loop(run)

    def _push(self, key: str, bars: list[TapeBar]) -> None:
        self.tape.setdefault(key, []).extend(bars)
        for bar in bars:
            for s in self._sessions:
                s.push_bar(key, bar)
        if bars and key in self.exchange.prices:
            self.exchange.set_price(key, bars[-1].close)

    def live(self, keys: list[str], interval: float = 5.0, burst: int = 1) -> None:
        """Push the next walk bar of each of ``keys`` every ``interval`` s, ``burst`` at a time
        (faster than real time from a tape that lies in the past: a burst of 12 is a minute,
        so history in between never sees a minute half pushed), never a bar that has not ended
        by :attr:`now`."""

        async def run() -> None:
            seed = 1000
            while True:
                for key in keys:
                    last = self.tape[key][-1]
                    room = int((self.now().timestamp() - (last.time + 5)) // 5)
                    count = min(burst, room)
                    if count > 0:
                        seed += 1
                        start = datetime.fromtimestamp(last.time + 5, UTC)
                        self._push(key, walk(start, count, last.close, seed))
                await asyncio.sleep(interval)

        def start() -> None:
            self._live = self._loop.create_task(run())

        self._on_loop(start)

    def history_requests(self) -> list[Received]:
        """reqHistoricalData messages received (``fields[16]`` bar size, ``[17]`` duration,
        ``[18]`` useRTH, ``[19]`` whatToShow)."""
        with self._log_lock:
            return [r for r in self.log if r.fields[0] == "20"]

    def realtime_subscriptions(self) -> int:
        return self._on_loop(lambda: sum(len(s.realtime) for s in self._sessions))
