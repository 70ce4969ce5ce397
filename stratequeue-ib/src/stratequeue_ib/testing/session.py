"""One API client's connection to the fake TWS: the handshake, then request by request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import encoders as enc
from .exchange import Exchange, OrderRequest
from .tape import BAR_SECONDS, TapeBar, fold, parse_duration, parse_end
from .wire import GREETING, frame, read_frame

if TYPE_CHECKING:
    from .server import FakeTWS

__all__ = ["Session"]

log = logging.getLogger(__name__)

#: account summary tags the fake knows (others are answered with nothing)
_SUMMARY = ("NetLiquidation", "TotalCashValue", "BuyingPower", "GrossPositionValue")


def _num(text: str) -> float | None:
    return float(text) if text not in ("", "1.7976931348623157e+308") else None


def _since(text: str) -> datetime | None:
    """An execution filter's time: ``yyyymmdd-hh:mm:ss`` or ``yyyymmdd hh:mm:ss`` (UTC)."""
    text = text.strip().removesuffix(" UTC").replace("-", " ")
    if not text:
        return None
    return datetime.strptime(text[:17], "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)


class Session:
    def __init__(
        self, server: FakeTWS, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.positions = False  # subscribed to position updates
        self.account_updates = False
        self.realtime: dict[int, tuple[str, bool]] = {}  # req id -> (tape key, midpoint)

    def send(self, fields: list[object]) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame(fields))

    def send_all(self, messages: Iterable[list[object]]) -> None:
        for fields in messages:
            self.send(fields)

    def close(self) -> None:
        self.writer.close()

    async def run(self) -> None:
        try:
            if await self.reader.readexactly(len(GREETING)) != GREETING:
                return
            if await read_frame(self.reader) is None:  # the client's version range
                return
            self.send([enc.SERVER_VERSION, enc.ib_time(datetime.now(UTC))])
            while (fields := await read_frame(self.reader)) is not None:
                self.server.received(self, fields)
                handler = self._handlers().get(fields[0])
                if handler is not None:
                    handler(fields)
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.server.gone(self)
            self.writer.close()

    def _handlers(self) -> dict[str, Callable[[list[str]], None]]:
        return {
            "71": self._start_api,
            "3": self._place_order,
            "4": self._cancel_order,
            "5": self._open_orders,
            "16": self._all_open_orders,
            "6": self._account_updates,
            "7": self._executions,
            "8": self._ids,
            "61": self._positions,
            "64": self._cancel_positions,
            "62": self._account_summary,
            "76": self._account_updates_multi,
            "99": self._completed_orders,
            "20": self._historical_data,
            "25": self._cancel_historical_data,
            "50": self._realtime_bars,
            "51": self._cancel_realtime_bars,
        }

    @property
    def exchange(self) -> Exchange:
        return self.server.exchange

    # -- connection ------------------------------------------------------------------------
    def _start_api(self, fields: list[str]) -> None:
        client_id = int(fields[2])
        if self.server.client_in_use(client_id, self):
            self.send(
                enc.error(
                    -1,
                    326,
                    f"Unable to connect as the client id {client_id} is already in use. Retry with a unique client id.",
                )
            )
            self.close()
            return
        self.client_id = client_id
        self.send(enc.next_valid_id(self.exchange.next_order_id))
        self.send(enc.managed_accounts(self.exchange.accounts))

    def _ids(self, fields: list[str]) -> None:
        self.send(enc.next_valid_id(self.exchange.next_order_id))

    # -- orders ----------------------------------------------------------------------------
    def _place_order(self, f: list[str]) -> None:
        fault = self.server.take_fault("submit")
        order_id = int(f[1])
        if fault == "pace":
            self.send(
                enc.error(
                    order_id,
                    100,
                    "Max rate of messages per second has been exceeded:max=50 rec=51 (1)",
                )
            )
            return
        if fault == "drop":
            self.server.drop()
            return
        instrument = self.exchange.instrument(
            f[3], f[4], currency=f[11], last_trade=f[5], exchange=f[9], multiplier=f[8]
        )
        request = OrderRequest(
            order_id=order_id,
            client_id=self.client_id or 0,
            instrument=instrument,
            action=f[16],
            qty=float(f[17]),
            order_type=f[18],
            lmt=_num(f[19]),
            aux=_num(f[20]),
            tif=f[21],
            oca_group=f[22],
            account=f[23],
            order_ref=f[26],
            transmit=f[27] == "1",
            parent_id=int(f[28] or 0),
        )
        refusal = self.exchange.place(request)
        if refusal is not None:
            self.send(enc.error(order_id, refusal.code, refusal.message))
        if fault == "drop-after":
            self.server.drop()

    def _cancel_order(self, f: list[str]) -> None:
        order_id = int(f[2])
        refusal = self.exchange.cancel(self.client_id or 0, order_id)
        if refusal is not None:
            self.send(enc.error(order_id, refusal.code, refusal.message))
        else:
            self.send(enc.error(order_id, 202, "Order Canceled - reason:"))

    def _open_orders(self, f: list[str]) -> None:
        for order in self.exchange.open_orders(self.client_id or 0):
            self.send(enc.open_order(order))
            self.send(enc.order_status(order))
        self.send(enc.open_order_end())

    def _all_open_orders(self, f: list[str]) -> None:
        for order in self.exchange.all_open_orders():
            self.send(enc.open_order(order))
            self.send(enc.order_status(order))
        self.send(enc.open_order_end())

    def _completed_orders(self, f: list[str]) -> None:
        self.send_all(enc.completed_order(o) for o in self.exchange.completed_orders())
        self.send(enc.completed_orders_end())

    def _executions(self, f: list[str]) -> None:
        req_id = int(f[2])
        found = self.exchange.executions_since(
            int(f[3] or 0), f[4], _since(f[5]), f[6], f[9] if len(f) > 9 else ""
        )
        for execution in found:
            self.send(enc.exec_details(req_id, execution))
            self.send(enc.commission_report(execution))
        self.send(enc.exec_details_end(req_id))

    # -- the account -----------------------------------------------------------------------
    def _positions(self, f: list[str]) -> None:
        if self.server.take_fault("positions") == "drop":
            self.server.drop()
            return
        self.positions = True
        for instrument, qty, cost in self.exchange.positions.values():
            self.send(
                enc.position(self.exchange.account, instrument, qty, cost / qty if qty else 0.0)
            )
        self.send(enc.position_end())

    def _cancel_positions(self, f: list[str]) -> None:
        self.positions = False

    def _account_updates(self, f: list[str]) -> None:
        self.account_updates = f[2] == "1"
        if self.account_updates:
            self.send_account_values()
            self.send_portfolio()
            self.send(enc.account_download_end(self.exchange.account))

    def send_account_values(self) -> None:
        account = self.exchange.account
        for key, value in self.exchange.account_values().items():
            self.send(enc.account_value(key, value, "USD", account))

    def send_portfolio(self) -> None:
        ex = self.exchange
        for instrument, qty, cost in ex.positions.values():
            price = ex.prices.get(instrument.symbol, cost / qty if qty else 0.0)
            self.send(enc.portfolio_value(ex.account, instrument, qty, price, cost))

    def _account_updates_multi(self, f: list[str]) -> None:
        req_id = int(f[2])
        for key, value in self.exchange.account_values().items():
            self.send(enc.account_update_multi(req_id, f[3], key, value, "USD"))
        self.send(enc.account_update_multi_end(req_id))

    def _account_summary(self, f: list[str]) -> None:
        req_id = int(f[2])
        wanted = set(f[4].split(","))
        values = self.exchange.account_values()
        for account in self.exchange.accounts:
            for tag in _SUMMARY:
                if tag in wanted:
                    self.send(enc.account_summary(req_id, account, tag, values[tag], "USD"))
        self.send(enc.account_summary_end(req_id))

    # -- market data -----------------------------------------------------------------------
    def _historical_data(self, f: list[str]) -> None:
        """reqHistoricalData (20): reqId, 12 contract fields, includeExpired, endDateTime,
        barSize, duration, useRTH, whatToShow, formatDate, keepUpToDate, chartOptions."""
        req_id = int(f[1])
        if self.server.take_fault("history") == "pace":
            self.send(
                enc.error(
                    req_id,
                    162,
                    "Historical Market Data Service error message:Historical data request pacing violation",
                )
            )
            return
        key = tape_key(f[3], f[4], f[11])
        size, what = f[16], f[19]
        if size not in BAR_SECONDS:
            self.send(enc.error(req_id, 321, f"Error validating request:-'bar size' {size!r}"))
            return
        end = parse_end(f[15], self.server.now())
        start = end - parse_duration(f[17])
        bars = fold(
            self.server.tape.get(key, []), start, end, size, rth=f[18] == "1" and f[4] == "STK"
        )
        stamp = "%Y%m%d %H:%M:%S"
        self.send(
            enc.historical_data(
                req_id, start.strftime(stamp), end.strftime(stamp), bars, what == "MIDPOINT"
            )
        )

    def _cancel_historical_data(self, f: list[str]) -> None:
        """cancelHistoricalData (25): every answer here is sent at once; nothing to stop."""

    def _realtime_bars(self, f: list[str]) -> None:
        """reqRealTimeBars (50, v3): reqId, 12 contract fields, barSize, whatToShow, useRTH."""
        self.realtime[int(f[2])] = (tape_key(f[4], f[5], f[12]), f[16] == "MIDPOINT")

    def _cancel_realtime_bars(self, f: list[str]) -> None:
        self.realtime.pop(int(f[2]), None)

    def push_bar(self, key: str, bar: TapeBar) -> None:
        for req_id, (wanted, midpoint) in list(self.realtime.items()):
            if wanted == key:
                self.send(enc.realtime_bar(req_id, bar, midpoint))


def tape_key(symbol: str, sec_type: str, currency: str) -> str:
    """Which tape a contract reads: the symbol (``EURUSD`` for the pair EUR.USD)."""
    return f"{symbol}{currency}" if sec_type == "CASH" else symbol
