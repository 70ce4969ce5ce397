"""The ``ib`` data source: history from ``reqHistoricalData``, live bars from IB's 5-second
real-time bars folded into the granularity.

It holds its own connection to TWS / IB Gateway (client id ``IB_DATA_CLIENT_ID``, else
``IB_CLIENT_ID + 1``), with ib_async on an event loop of its own thread
(:class:`~.loop.IBLoop`): every call from the trading thread waits with a timeout.

- History: one ``reqHistoricalData`` per warm-up (``formatDate=2``: UTC epoch times, ``useRTH``
  from ``IB_USE_RTH``), paced by :class:`~.pacing.Pacer` (60 requests per 10 minutes, none
  repeated within 15 s); a pacing violation (error 162) is retried with backoff.
- Live: ``reqRealTimeBars`` (5 s; TRADES, MIDPOINT for currency pairs) per symbol, folded by
  the core's :class:`~stratequeue.data.live.BarFolder`. A period closes with its last 5-second
  bar, or with the first bar of a later period (a daily bar: at the next session's first bar).
- A dropped connection is reopened with backoff, the subscriptions renewed, and the gap asked
  of history as 5-second bars (:func:`~stratequeue.data.live.backfill`): each bar once, in order.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from stratequeue.data.base import BaseDataSource, DataSourceConfig
from stratequeue.data.live import BarFilter, BarFolder, BarGrid, Retry, TransientError, backfill
from stratequeue.errors import BrokerError, DataSourceError
from stratequeue.models import Bar

from . import config
from .bars import GRANULARITIES, MARKET_ZONE, bar_of, bar_size, duration_for, what_to_show
from .contracts import contract_for
from .loop import IBLoop
from .pacing import Pacer

__all__ = ["IBDataSource"]

log = logging.getLogger(__name__)

#: IB's historical-data error; a pacing violation says so in its text
_HMDS = 162
_SUB = timedelta(seconds=5)
#: the longest gap one 5-second history request may cover (IB's step-size table)
_CHUNK = timedelta(seconds=3600)


class _Reconnected:
    """Put on the event queue when the connection is back and the subscriptions renewed."""


_RECONNECTED = _Reconnected()


class IBDataSource(BaseDataSource):
    """Interactive Brokers market data through TWS / IB Gateway (needs a market-data
    subscription for the symbols, as TWS itself does).

    Options: ``timeout`` (30 s per request), ``connect_timeout`` (4 s), ``reconnect_backoff``
    (0.5 s, doubling to ``max_backoff``, 30 s), ``history_attempts`` (4) and
    ``history_backoff`` (15 s, doubling: IB's pacing cool-down), ``pacer`` (a
    :class:`~.pacing.Pacer`), ``clock``.
    """

    name: ClassVar[str] = "ib"
    display_name: ClassVar[str] = "Interactive Brokers"
    granularities: ClassVar[tuple[str, ...]] = GRANULARITIES

    def __init__(self, config_: DataSourceConfig) -> None:
        super().__init__(config_)
        opts = config_.options
        try:
            self.settings, self.rth = config.data_settings_from(config_.env)
        except BrokerError as exc:
            raise DataSourceError(str(exc)) from None
        self._timeout = float(opts.get("timeout", 30.0))  # type: ignore[arg-type]
        self._connect_timeout = float(opts.get("connect_timeout", 4.0))  # type: ignore[arg-type]
        self._backoff = float(opts.get("reconnect_backoff", 0.5))  # type: ignore[arg-type]
        self._max_backoff = float(opts.get("max_backoff", 30.0))  # type: ignore[arg-type]
        pacer = opts.get("pacer")
        self.pacer = pacer if isinstance(pacer, Pacer) else Pacer()
        self.retry = Retry(
            attempts=int(opts.get("history_attempts", 4)),  # type: ignore[call-overload]
            backoff=float(opts.get("history_backoff", 15.0)),  # type: ignore[arg-type]
            max_backoff=120.0,
            wait=self._stop.wait,
            logger=log,
        )
        self.filter = BarFilter(self.granularity, clock=self._clock)
        self.grid = BarGrid(self.granularity, MARKET_ZONE)
        self.reconnects = 0
        self._loop: IBLoop | None = None
        self._ib: Any = None
        self._closing = False
        self._reconnecting = False
        self._events: queue.Queue[Bar | _Reconnected] = queue.Queue()
        self._wanted: list[str] = []  # symbols streamed (renewed after a reconnect)
        self._subs: dict[str, Any] = {}  # symbol -> ib_async RealTimeBarList

    @classmethod
    def setup_instructions(cls) -> str:
        return (
            "The 'ib' data source reads bars from TWS / IB Gateway (set it up as for the "
            "broker: stratequeue --broker-setup ib). It connects with client id "
            "IB_DATA_CLIENT_ID (default IB_CLIENT_ID + 1, next to the broker's); "
            "IB_USE_RTH=0 includes extended hours. Your IB login needs market-data "
            "subscriptions for the symbols."
        )

    # -- connection ------------------------------------------------------------------------
    def _connected(self) -> IBLoop:
        if self._loop is None:
            self._loop = IBLoop()
        if self._ib is None or not self._ib.isConnected():
            try:
                self._loop.run(self._open(), self._connect_timeout * 2)
            except (OSError, TimeoutError, ConnectionError) as exc:
                raise DataSourceError(
                    f"The ib data source could not connect to TWS / IB Gateway at "
                    f"{self.settings.address} with client id {self.settings.client_id} "
                    f"({type(exc).__name__}: {exc}); is it running with socket clients enabled? "
                    "Another program using that client id? Set IB_DATA_CLIENT_ID to a free one."
                ) from None
        return self._loop

    async def _open(self) -> None:
        from ib_async import IB, StartupFetchNONE

        if self._ib is None:
            self._ib = IB()
            self._ib.RaiseRequestErrors = True  # an error ends a request with RequestError
            self._ib.disconnectedEvent += self._on_disconnect
        await self._ib.connectAsync(
            self.settings.host,
            self.settings.port,
            clientId=self.settings.client_id,
            timeout=self._connect_timeout,
            readonly=True,
            fetchFields=StartupFetchNONE,
        )
        log.info(
            "IB data: connected to %s (client id %d)",
            self.settings.address,
            self.settings.client_id,
        )

    def _on_disconnect(self) -> None:  # on the loop
        self._subs.clear()
        if self._closing or self._reconnecting or self._loop is None:
            return
        log.warning("IB data: the connection to %s dropped; reconnecting", self.settings.address)
        self._reconnecting = True
        self._loop.loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self._backoff
        try:
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    await self._open()
                except Exception as exc:  # whatever broke this attempt, the next one may work
                    log.warning("IB data: reconnecting failed (%s: %s)", type(exc).__name__, exc)
                    if self._ib.isConnected():
                        self._ib.disconnect()
                    delay = min(delay * 2, self._max_backoff)
                    continue
                self.reconnects += 1
                self._subscribe(self._wanted)
                self._events.put(_RECONNECTED)
                return
        finally:
            self._reconnecting = False

    def close(self) -> None:
        super().close()
        self._closing = True
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._ib is not None:
            try:
                loop.call(self._ib.disconnect, self._timeout)
            except (TimeoutError, RuntimeError):
                log.warning("IB data: could not close the connection cleanly")
        loop.stop()

    # -- history -------------------------------------------------------------------------
    def history(self, symbol: str, bars: int) -> list[Bar]:
        now = self._clock()
        current = self.grid.start(now)
        got = self._history(
            symbol, "", duration_for(self.granularity, bars, self.rth), bar_size(self.granularity)
        )
        closed = sorted((b for b in got if b.timestamp < current), key=lambda b: b.timestamp)
        good = list(BarFilter(self.granularity, clock=self._clock).filter(closed))[-bars:]
        if good:
            self.filter.mark(symbol, good[-1].timestamp)
        return good

    def _history(self, symbol: str, end: datetime | str, duration: str, size: str) -> list[Bar]:
        """One paced ``reqHistoricalData``, retried on pacing violations and timeouts."""
        contract = self._contract(symbol)
        what = what_to_show(contract)
        key = (symbol, str(end), duration, size, what, self.rth)

        def attempt() -> list[Bar]:
            if self.pacer.wait(key, self._paced):
                raise DataSourceError("the run stopped while waiting for IB's history pacing")
            loop = self._connected()
            try:
                raw = loop.run(self._request(contract, end, duration, size, what), self._timeout)
            except (TimeoutError, ConnectionError) as exc:
                raise TransientError(f"IB history {size} {symbol}: {type(exc).__name__}") from None
            return [bar_of(symbol, b) for b in raw]

        return self.retry.call(f"IB history for {symbol} ({size}, {duration})", attempt)

    def _paced(self, seconds: float) -> bool:
        if seconds >= 1:
            log.warning("IB data: waiting %.0f s for IB's history pacing (60 per 10 min)", seconds)
        return self._stop.wait(seconds)

    async def _request(
        self, contract: Any, end: datetime | str, duration: str, size: str, what: str
    ) -> list[Any]:
        from ib_async import RequestError

        if not self._ib.isConnected():
            raise ConnectionError("not connected")
        try:
            return list(
                await self._ib.reqHistoricalDataAsync(
                    contract, end, duration, size, what, self.rth, formatDate=2, timeout=0
                )
            )
        except RequestError as exc:
            text = exc.message
            if exc.code == _HMDS and "pacing" in text.lower():
                raise TransientError(f"IB pacing violation (162): {text}") from None
            if exc.code == _HMDS and "no data" in text.lower():
                return []
            raise DataSourceError(
                f"IB refused the history of {contract.symbol} ({size}, {duration}): "
                f"error {exc.code}: {text}"
            ) from None

    def _contract(self, symbol: str) -> Any:
        try:
            return contract_for(symbol)
        except BrokerError as exc:
            raise DataSourceError(str(exc)) from None

    def _gap(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """5-second bars of ``symbol`` from ``start`` to ``end``, an hour per request."""
        out: list[Bar] = []
        while start < end:
            stop = min(start + _CHUNK, end)
            seconds = int((stop - start).total_seconds()) + 5
            try:
                out.extend(self._history(symbol, stop, f"{seconds} S", "5 secs"))
            except DataSourceError as exc:
                raise TransientError(str(exc)) from None
            start = stop
        return out

    # -- live ----------------------------------------------------------------------------
    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        folder = BarFolder(
            {s: self.grid for s in symbols}, _SUB, self.filter, sparse=True, logger=log
        )
        start = self._clock()
        for s in symbols:
            folder.begin(s, start)
        loop = self._connected()
        self._wanted = list(symbols)
        loop.call(lambda: self._subscribe(self._wanted), self._timeout)
        try:
            # subscribed first: what arrives while the gap is fetched waits in the queue
            yield from self._deliver(backfill(folder, self._gap, symbols, self._clock()))
            while not self.stopped:
                try:
                    event = self._events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(event, _Reconnected):
                    out = backfill(folder, self._gap, symbols, self._clock())
                else:
                    out = folder.add(event, self._clock())
                yield from self._deliver(out)
        finally:
            self._wanted = []
            if self._loop is not None:
                try:
                    self._loop.call(self._unsubscribe, self._timeout)
                except (TimeoutError, RuntimeError):
                    log.warning("IB data: could not cancel the real-time bars")

    def _deliver(self, bars: list[Bar]) -> Iterator[Bar]:
        for bar in sorted(bars, key=lambda b: (b.timestamp, b.symbol)):
            if self.stopped:
                return
            yield bar

    def _subscribe(self, symbols: Sequence[str]) -> None:  # on the loop
        for symbol in symbols:
            contract = self._contract(symbol)
            subscription = self._ib.reqRealTimeBars(contract, 5, what_to_show(contract), self.rth)
            subscription.updateEvent += self._on_bars(symbol)
            self._subs[symbol] = subscription

    def _on_bars(self, symbol: str) -> Any:
        def handle(bars: Any, has_new: bool) -> None:  # on the loop
            if bars:
                self._events.put(bar_of(symbol, bars[-1]))
                del bars[:]  # the list would grow by 17,280 bars a day

        return handle

    def _unsubscribe(self) -> None:  # on the loop
        subs, self._subs = self._subs, {}
        if self._ib is None or not self._ib.isConnected():
            return
        for subscription in subs.values():
            self._ib.cancelRealTimeBars(subscription)
