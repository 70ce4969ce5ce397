"""The ``ib`` broker: Interactive Brokers paper and live accounts through TWS / IB Gateway.

ib_async runs on an event loop of its own in a thread of its own (:class:`~.loop.IBLoop`);
every call from the trading thread goes through it with a timeout.

Idempotence: every IB order carries the client order id in ``orderRef`` (legs: ``<cid>/tp``,
``<cid>/sl``). IB does not de-duplicate ``orderRef``, so before sending, the plugin looks for
the id among the open orders, completed orders and today's executions ib_async synced on
connecting (with the same client id, so a restart sees its own orders) and sends nothing when it
is there. A send whose answer is lost (timeout) is UNKNOWN; one cut by a dropped connection is
looked up again after the reconnect, and sent again (with a new order id) only when TWS does
not have it. Order ids come from ``nextValidId`` through ib_async's counter and are never reused.

Fills: each execution (``execDetails``) is reported once per execution id, with the commission
of its ``commissionReport``. After a dropped connection the plugin reconnects with backoff and
asks for the executions since the last one it saw, so fills made during the gap arrive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from stratequeue.brokers.base import (
    BaseBroker,
    BrokerConfig,
    Capability,
    CredentialStatus,
    OrderAck,
)
from stratequeue.errors import BrokerError
from stratequeue.models import AccountInfo, BrokerOrder, Fill, OrderStatus, Position

from . import config
from .contracts import contract_for, symbol_of
from .fills import ack_of, fill_of, filter_time
from .lookup import Lookup
from .loop import IBLoop
from .orders import OrderRefused, build_orders

__all__ = ["IBBroker"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: error codes: pacing (more than 50 messages a second): nothing was placed, send again later
_PACING = 100
#: TWS lost (1100) and regained (1101 data lost, 1102 data kept) its link to IB's servers
_LINK_LOST, _LINK_BACK = 1100, (1101, 1102)
_PENDING = ("PendingSubmit", "ApiPending")
#: TWS's confirmation of a cancel, which ib_async logs as an error
_CANCELED = "Error 202,"


class _QuietCancels(logging.Filter):
    """Drop ib_async's ERROR line for each confirmed cancel (code 202): the cancel is shown by
    StrateQueue itself, and an error line for every cancel hides the real ones."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_CANCELED)


_quiet_cancels = _QuietCancels()


class IBBroker(BaseBroker):
    """Interactive Brokers paper or live trading through TWS / IB Gateway (US stocks; currency
    pairs and futures by explicit symbols, see :mod:`stratequeue_ib.contracts`).

    ``config.credentials`` is the environment to read ``IB_*`` from (the process environment
    when empty). ``config.additional_params`` may set ``timeout`` (10 s per call),
    ``connect_timeout`` (4 s), ``order_wait`` (5 s for TWS to answer an order),
    ``reconnect_backoff`` (0.5 s, doubling to ``max_backoff``, 30 s), ``commission_wait``
    (5 s: a fill whose commission report has not come by then is reported with none),
    ``max_messages_per_second`` (45: IB refuses more than 50) and ``submit_attempts`` (3).
    """

    name: ClassVar[str] = "ib"
    display_name: ClassVar[str] = "Interactive Brokers"
    features: ClassVar[Mapping[str, str]] = {
        "assets": "US stocks (SMART), currency pairs (FX:EURUSD), futures (FUT:ES:202512:CME)",
        "orders": "market, limit, stop, stop_limit, bracket (sl/tp), oco exits; whole shares",
        "modes": "paper (DU accounts), live",
    }
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.MARKET,
            Capability.LIMIT,
            Capability.STOP,
            Capability.STOP_LIMIT,
            Capability.BRACKET,
            Capability.OCO,
            Capability.REPLACE,  # placeOrder again with the same order id
            Capability.PARTIAL_FILLS,
            Capability.SHORT,
            Capability.EXECUTIONS,  # reqExecutions: today's executions, with their ids
            Capability.NETWORK,  # dropped connections and pacing refusals, retried
        }
    )

    def __init__(self, config_: BrokerConfig) -> None:
        super().__init__(config_)
        params = dict(config_.additional_params)
        self._timeout = float(params.get("timeout", 10.0))
        self._connect_timeout = float(params.get("connect_timeout", 4.0))
        self._order_wait = float(params.get("order_wait", 5.0))
        self._backoff = float(params.get("reconnect_backoff", 0.5))
        self._max_backoff = float(params.get("max_backoff", 30.0))
        self._commission_wait = float(params.get("commission_wait", 5.0))
        self._rate = int(params.get("max_messages_per_second", 45))
        self._attempts = int(params.get("submit_attempts", 3))
        env = config_.credentials or os.environ
        self.settings = config.settings_from(env)
        self._loop: IBLoop | None = None
        self._ib: Any = None
        self._lookup: Lookup
        self._up = threading.Event()
        self._closing = False
        self._reconnecting = False
        self._lock = threading.RLock()
        self._delivered: set[str] = set()
        self._first_seen: dict[str, float] = {}  # exec id -> when seen without commission
        self._last_exec: datetime | None = None
        self._next_order_id = 0  # above every order id this broker used (TWS may not know it)
        self.reconnects = 0

    # -- credentials and setup -------------------------------------------------------------
    @classmethod
    def credential_status(cls, env: Mapping[str, str]) -> CredentialStatus:
        return config.credential_status(env)

    @classmethod
    def setup_instructions(cls) -> str:
        return config.setup_instructions()

    @classmethod
    def validate_credentials(cls, env: Mapping[str, str], paper: bool = True) -> str:
        """Connect (reachable, handshake, managed accounts); the account traded."""
        broker = cls(BrokerConfig("ib", paper_trading=paper, credentials=dict(env)))
        try:
            if not broker.connect():
                raise BrokerError(
                    f"TWS / IB Gateway at {broker.settings.address} did not answer: is it "
                    "running, with socket clients enabled on that port?"
                )
            return broker.settings.account
        finally:
            broker.disconnect()

    # -- connection ------------------------------------------------------------------------
    def connect(self) -> bool:
        problem = config.mode_problem(self.settings.account, self.config.paper_trading)
        if problem:
            raise BrokerError(problem)
        self._closing = False
        logging.getLogger("ib_async.wrapper").addFilter(_quiet_cancels)  # once: same object
        self._loop = IBLoop()
        try:
            managed = self._first_connect()
        except (OSError, TimeoutError, ConnectionError) as exc:
            log.error(
                "TWS / IB Gateway at %s did not answer (%s): is it running with socket clients "
                "enabled on that port? See: stratequeue --broker-setup ib",
                self.settings.address,
                type(exc).__name__,
            )
            self.disconnect()
            return False
        problem = config.account_problem(self.settings, managed)
        if problem:
            self.disconnect()
            raise BrokerError(problem)
        log.info(
            "Connected to IB %s account %s at %s (client id %d)",
            "paper" if self.config.paper_trading else "LIVE",
            self.settings.account,
            self.settings.address,
            self.settings.client_id,
        )
        return True

    def _first_connect(self) -> list[str]:
        """Connect, trying again while TWS still holds the client id of a connection that
        just closed (it refuses a second one: "client id already in use")."""
        assert self._loop is not None
        for attempt in range(self._attempts):
            try:
                return self._loop.run(self._open(initial=True), self._connect_timeout * 4)
            except ConnectionRefusedError:
                raise
            except ConnectionError:
                if attempt == self._attempts - 1:
                    raise
                time.sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def _open(self, *, initial: bool) -> list[str]:
        """Connect (first time: with the full startup sync, whose executions are history the
        ledger already has or reconciliation fetches); return the managed accounts."""
        from ib_async import IB, StartupFetch, StartupFetchALL

        if self._ib is None:
            self._ib = IB()
            self._lookup = Lookup(self._ib, self.settings.account)
            self._ib.client.MaxRequests = self._rate
            self._ib.disconnectedEvent += self._on_disconnect
            self._ib.errorEvent += self._on_error
        fetch = StartupFetchALL if initial else StartupFetchALL & ~StartupFetch.EXECUTIONS
        await self._ib.connectAsync(
            self.settings.host,
            self.settings.port,
            clientId=self.settings.client_id,
            timeout=self._connect_timeout,
            account=self.settings.account,
            fetchFields=fetch,
        )
        self._ib.client.updateReqId(self._next_order_id)  # never reuse an id a drop ate
        if initial:
            # the open orders of every client id too: a run restarted under another
            # IB_CLIENT_ID must still find the orders it sent (reqOpenOrders shows its own)
            await self._ib.reqAllOpenOrdersAsync()
            self._delivered.update(self._ib.wrapper.fills)
            self._note_times(self._ib.wrapper.fills.values())
        else:
            await self._catch_up()
        self._up.set()
        return list(self._ib.managedAccounts())

    def _on_disconnect(self) -> None:  # on the loop
        self._up.clear()
        if self._closing or self._reconnecting or self._loop is None:
            return
        log.warning("IB: the connection to TWS at %s dropped; reconnecting", self.settings.address)
        self._reconnecting = True
        self._loop.loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self._backoff
        try:
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    await self._open(initial=False)
                except Exception as exc:  # whatever broke this attempt, the next one may work
                    log.warning(
                        "IB: reconnecting to %s failed (%s: %s)",
                        self.settings.address,
                        type(exc).__name__,
                        exc,
                    )
                    if self._ib.isConnected():
                        self._ib.disconnect()
                    delay = min(delay * 2, self._max_backoff)
                    continue
                self.reconnects += 1
                log.info("IB: reconnected to %s", self.settings.address)
                return
        finally:
            self._reconnecting = False

    async def _catch_up(self) -> None:
        """Ask for the executions since the last one seen (a second early: IB's times are
        whole seconds), so fills made while the connection was down are reported."""
        from ib_async import ExecutionFilter

        since = (
            "" if self._last_exec is None else filter_time(self._last_exec - timedelta(seconds=1))
        )
        await self._ib.reqExecutionsAsync(
            ExecutionFilter(acctCode=self.settings.account, time=since)
        )

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:  # loop
        if code == _LINK_LOST:
            log.warning("IB: TWS lost its connection to IB (1100): %s", message)
        elif code in _LINK_BACK and self._ib is not None and self._ib.isConnected():
            log.info("IB: TWS is connected to IB again (%d); fetching missed executions", code)
            asyncio.ensure_future(self._catch_up())

    def disconnect(self) -> None:
        self._closing = True
        self._up.clear()
        if self._loop is None:
            return
        if self._ib is not None:
            try:
                self._loop.call(self._ib.disconnect, self._timeout)
            except (TimeoutError, RuntimeError):
                log.warning("IB: could not close the connection cleanly")
        self._loop.stop()
        self._loop = None

    # -- calls onto the loop -----------------------------------------------------------------
    def _require(self, what: str) -> IBLoop:
        if self._loop is None:
            raise BrokerError("The IB broker is not connected: call connect() first.")
        if not self._up.wait(self._timeout):
            raise BrokerError(
                f"IB: not connected to TWS at {self.settings.address} ({what}); still reconnecting"
            )
        return self._loop

    def _on_loop(self, what: str, fn: Callable[[], T]) -> T:
        return self._require(what).call(fn, self._timeout)

    def _read(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """A request that is safe to repeat (``make`` starts it, on the loop): repeated once
        after a dropped connection."""

        async def request() -> T:
            return await make()

        for attempt in range(2):
            loop = self._require(what)
            try:
                return loop.run(request(), self._timeout)
            except (ConnectionError, TimeoutError):
                if attempt:
                    raise
                time.sleep(self._backoff)
        raise AssertionError("unreachable")

    # -- the account -------------------------------------------------------------------------
    def get_positions(self) -> list[Position]:
        with self._lock:
            raw = self._read("positions", lambda: self._ib.reqPositionsAsync())
            prices = self._on_loop(
                "portfolio",
                lambda: {
                    item.contract.conId: item.marketPrice
                    for item in self._ib.portfolio(self.settings.account)
                },
            )
        return [
            Position(
                symbol_of(p.contract),
                float(p.position),
                float(p.avgCost) / float(p.contract.multiplier or 1),
                prices.get(p.contract.conId),
            )
            for p in raw
            if p.account == self.settings.account and p.position
        ]

    def get_account_info(self) -> AccountInfo:
        account = self.settings.account
        with self._lock:
            self._read("account values", lambda: self._ib.reqAccountUpdatesAsync(account))
            values = self._on_loop(
                "account values",
                lambda: {
                    v.tag: v.value
                    for v in self._ib.accountValues(account)
                    if v.currency in ("USD", "BASE", "")
                },
            )
            positions = tuple(self.get_positions())

        def number(tag: str) -> float:
            try:
                return float(values.get(tag, 0.0))
            except ValueError:
                return 0.0

        return AccountInfo(
            account_id=account,
            cash=number("TotalCashValue"),
            equity=number("NetLiquidation"),
            buying_power=number("BuyingPower"),
            currency="USD",
            positions=positions,
            mode="paper" if self.config.paper_trading else "live",
        )

    # -- looking orders up -------------------------------------------------------------------
    def get_order(self, client_order_id: str) -> OrderAck | None:
        with self._lock:
            return self._on_loop("order lookup", lambda: self._lookup.state(client_order_id))

    def get_open_orders(self) -> list[OrderAck]:
        with self._lock:
            return self._on_loop("open orders", self._lookup.open_orders)

    # -- orders --------------------------------------------------------------------------------
    def submit_order(self, order: BrokerOrder) -> OrderAck:
        """Place ``order`` once: an id TWS already shows (open, completed or executed today)
        returns that order's state and sends nothing."""
        cid = order.client_order_id
        with self._lock:
            try:
                contract = contract_for(order.symbol)
            except BrokerError as exc:
                return self._refused(order, str(exc))
            existing = self._on_loop("order lookup", lambda: self._lookup.state(cid))
            if existing is not None:
                log.info(
                    "Order %s is already at IB (%s); not sending it again", cid, existing.status
                )
                return existing
            return self._send(order, contract)

    def _send(self, order: BrokerOrder, contract: Any) -> OrderAck:
        cid = order.client_order_id
        for attempt in range(self._attempts):
            loop = self._require("place order")
            try:
                outcome = loop.run(self._place(order, contract), self._order_wait + self._timeout)
            except OrderRefused as exc:
                return self._refused(order, str(exc))
            except TimeoutError:
                return self._unknown(order, "TWS did not answer in time")
            except ConnectionError:
                outcome = "dropped"
            if outcome == "timeout":
                return self._unknown(order, f"TWS did not answer within {self._order_wait:g}s")
            if outcome == "dropped":
                log.warning("Order %s: the connection dropped while sending; looking it up", cid)
                if not self._up.wait(self._timeout):
                    return self._unknown(order, "the connection dropped and is not back")
                found = self._on_loop("order lookup", lambda: self._lookup.state(cid))
                if found is not None:
                    log.info("Order %s reached TWS before the drop; not sending it again", cid)
                    return found
                continue  # TWS never got it: send it again, with a new order id
            if outcome == "paced":
                wait = self._backoff * (2**attempt)
                log.warning(
                    "Order %s: IB refused it for pacing (error 100); again in %.2fs", cid, wait
                )
                time.sleep(wait)
                continue
            ack = self._on_loop("order lookup", lambda: self._lookup.state(cid))
            if ack is None:
                return self._unknown(order, "TWS answered, but the order is not visible")
            if ack.status is OrderStatus.REJECTED:
                log.warning("Order %s rejected by IB: %s", cid, ack.message)
            else:
                log.info("Order %s placed at IB as %s (%s)", cid, ack.broker_order_id, ack.status)
            return ack
        return self._unknown(order, f"not confirmed after {self._attempts} attempts")

    async def _place(self, order: BrokerOrder, contract: Any) -> str:
        """Send the order's IB orders; wait for TWS's first answer to each. ``answered``,
        ``paced`` (error 100: nothing placed), ``dropped`` or ``timeout``."""
        ib = self._ib
        if not ib.isConnected():
            return "dropped"
        legs = build_orders(order, self.settings.account, ib.client.getReqId)
        self._next_order_id = max(leg.orderId for leg in legs) + 1
        trades = [ib.placeOrder(contract, leg) for leg in legs]
        deadline = time.monotonic() + self._order_wait
        while time.monotonic() < deadline:
            if not ib.isConnected():
                return "dropped"
            codes = [e.errorCode for t in trades for e in t.log if e.errorCode]
            if _PACING in codes:
                return "paced"
            if all(t.orderStatus.status not in _PENDING for t in trades):
                return "answered"
            await asyncio.sleep(0.01)
        return "timeout"

    def cancel_order(self, client_order_id: str) -> OrderAck:
        name = client_order_id
        with self._lock:
            trades = self._on_loop("order lookup", lambda: self._lookup.working(name))
            if not trades:
                state = self.get_order(name)
                if state is None:
                    return OrderAck(
                        name, OrderStatus.REJECTED, message=f"IB has no order with orderRef {name}"
                    )
                return replace(state, message=f"not canceled: it is {state.status}")

            async def cancel() -> None:
                for trade in trades:
                    self._ib.cancelOrder(trade.order)
                deadline = time.monotonic() + self._order_wait
                while time.monotonic() < deadline and any(
                    ack_of(t, name).status.is_open for t in trades
                ):
                    await asyncio.sleep(0.01)

            self._require("cancel").run(cancel(), self._order_wait + self._timeout)
            state = self.get_order(name)
        return state or OrderAck(name, OrderStatus.UNKNOWN, message="canceled, then not found")

    def replace_order(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> OrderAck:
        """New prices for a working order: placeOrder again with the same order id (IB
        modifies it in place). A leg (``<cid>/sl``) keeps its name; any other order takes
        ``new_client_order_id`` as its orderRef."""
        name = client_order_id
        leg = name.rpartition("/")[2] in ("tp", "sl")
        new_name = name if leg else new_client_order_id
        with self._lock:
            trades = self._on_loop(
                "order lookup",
                lambda: [t for t in self._lookup.trades(name) if ack_of(t, name).status.is_open],
            )
            if len(trades) != 1:
                state = self.get_order(name)
                what = state.status if state is not None else "unknown to IB"
                return OrderAck(
                    name,
                    OrderStatus.REJECTED,
                    message=f"order {name} cannot be replaced: it is {what}",
                )
            trade = trades[0]

            async def modify() -> str:
                errors_before = len([e for e in trade.log if e.errorCode])
                o = trade.order
                if limit_price is not None:
                    o.lmtPrice = round(limit_price, 8)
                if stop_price is not None:
                    o.auxPrice = round(stop_price, 8)
                o.orderRef, o.transmit = new_name, True
                self._ib.placeOrder(trade.contract, o)
                deadline = time.monotonic() + self._order_wait
                while time.monotonic() < deadline:
                    errors = [e for e in trade.log if e.errorCode]
                    if len(errors) > errors_before:
                        return errors[-1].message
                    if trade.log and trade.log[-1].message == "Modified":
                        return ""
                    await asyncio.sleep(0.01)
                return f"TWS did not confirm the change within {self._order_wait:g}s"

            problem = self._require("replace").run(modify(), self._order_wait + self._timeout)
            state = self.get_order(new_name)
        if problem:
            log.warning("Order %s not replaced: %s", name, problem)
            return OrderAck(name, OrderStatus.REJECTED, message=problem)
        log.info("Order %s replaced at IB as %s", name, new_name)
        return state or OrderAck(new_name, OrderStatus.UNKNOWN, message="replaced, then not found")

    # -- fills -----------------------------------------------------------------------------
    def _note_times(self, ib_fills: Any) -> None:
        for f in ib_fills:
            ts = f.execution.time
            if self._last_exec is None or ts > self._last_exec:
                self._last_exec = ts

    def _harvest(self) -> list[Fill]:  # on the loop
        now = time.monotonic()
        fills = []
        for exec_id, f in list(self._ib.wrapper.fills.items()):
            if exec_id in self._delivered or f.execution.acctNumber != self.settings.account:
                continue
            if f.commissionReport.execId != exec_id:
                first = self._first_seen.setdefault(exec_id, now)
                if now - first < self._commission_wait:
                    continue
                log.warning("IB: no commission report for execution %s; booked without", exec_id)
            self._delivered.add(exec_id)
            self._first_seen.pop(exec_id, None)
            self._note_times([f])
            fills.append(fill_of(f, float(f.commissionReport.commission or 0.0)))
        fills.sort(key=lambda x: (x.timestamp, x.client_order_id, x.cum_qty or 0.0))
        return fills

    def poll_fills(self) -> list[Fill]:
        """Executions not reported yet, each with its commission."""
        if self._loop is None or not self._up.is_set():
            return []
        with self._lock:
            try:
                return self._loop.call(self._harvest, self._timeout)
            except (TimeoutError, ConnectionError):
                return []

    def get_executions(self, since: datetime | None = None) -> list[Fill]:
        """The account's executions since ``since`` (IB keeps today's only), with IB's
        execution ids and each order's cumulative quantity."""
        from ib_async import ExecutionFilter

        flt = ExecutionFilter(
            acctCode=self.settings.account, time="" if since is None else filter_time(since)
        )
        with self._lock:
            raw = self._read("executions", lambda: self._ib.reqExecutionsAsync(flt))

            def commissions() -> dict[str, float]:
                known = self._ib.wrapper.fills
                return {
                    f.execution.execId: float(
                        known.get(f.execution.execId, f).commissionReport.commission or 0.0
                    )
                    for f in raw
                }

            paid = self._on_loop("executions", commissions)
        fills = [fill_of(f, paid[f.execution.execId]) for f in raw]
        return sorted(fills, key=lambda x: (x.timestamp, x.client_order_id, x.cum_qty or 0.0))
