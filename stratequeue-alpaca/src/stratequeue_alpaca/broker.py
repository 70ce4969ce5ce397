"""The ``alpaca`` broker: paper and live accounts through alpaca-py.

alpaca-py takes about two seconds to import, so it is imported on :meth:`AlpacaBroker.connect`,
never when the plugin registers (``stratequeue --help`` stays fast).

Idempotence: every order carries the caller's ``client_order_id``. After an ambiguous failure
(timeout, 5xx, 429) the order is looked up by that id before anything is sent again, and a POST
that Alpaca refuses as a duplicate id returns the existing order's state. Permanent refusals
(403, 422, or checks made here first) come back as ``OrderAck(status=REJECTED)`` carrying
Alpaca's message: the run goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from stratequeue.brokers.base import (
    BaseBroker,
    BrokerConfig,
    Capability,
    CredentialStatus,
    OrderAck,
)
from stratequeue.errors import BrokerError
from stratequeue.models import (
    AccountInfo,
    BrokerOrder,
    Fill,
    OrderStatus,
    OrderType,
    Position,
    Side,
    utc,
)

from . import credentials
from .fills import FillBook
from .symbols import pair, position_symbol

if TYPE_CHECKING:
    from .http import Retrier
    from .orders import AssetInfo
    from .stream import TradeUpdateStream

__all__ = ["AlpacaBroker"]

log = logging.getLogger(__name__)

_FILL_EVENTS = {"fill", "partial_fill"}
_EPS = 1e-9
_LEG_SUFFIX = {"limit": "tp", "stop": "sl", "stop_limit": "sl"}


def _num(value: Any) -> float:
    return float(value) if value not in (None, "") else 0.0


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


class AlpacaBroker(BaseBroker):
    """Alpaca paper or live trading (stocks, ETFs, crypto).

    ``config.credentials`` is the environment mapping to read keys and endpoints from (the
    process environment when empty). ``config.additional_params`` may set ``timeout`` (seconds
    per HTTP request, 10), ``retry_attempts`` (4), ``retry_backoff`` (0.5 s, doubling),
    ``stream`` (True: fills from trade_updates), ``stream_wait`` (10 s to connect),
    ``reconcile_interval`` (60 s between confirming polls while the stream is up) and
    ``clock_ttl`` (30 s cache of the market clock).

    Fills of a bracket's take-profit and stop-loss legs are reported with client order ids
    ``<parent id>/tp`` and ``<parent id>/sl``, and so are an OCO's (``order_class="oco"``): its
    take-profit is the limit order Alpaca holds under ``<parent id>`` itself, its stop loss is
    the leg, and a fill of either comes back as ``<parent id>/tp`` or ``<parent id>/sl`` (Alpaca
    cancels the other). :meth:`get_order` reports an OCO as a whole: filled when either leg is.

    Executions carry Alpaca's own ids and the order's cumulative quantity (``Fill.cum_qty``):
    from the trade_updates stream its ``execution_id``; from polling and :meth:`get_executions`
    the id of the account's FILL activity. The two sources name one execution differently;
    within a run :class:`~stratequeue_alpaca.fills.FillBook` reports it once (by cumulative
    quantity), across runs the same ``(client_order_id, cum_qty)`` identifies it.

    A bracket's leg is addressed by the same name: :meth:`get_order`, :meth:`cancel_order` and
    :meth:`replace_order` take ``<parent id>/tp`` or ``<parent id>/sl`` and act on that leg
    (Alpaca gives legs ids of its own). :meth:`replace_order` is ``PATCH /v2/orders/{id}``:
    Alpaca answers with a new order (new id, ``replaces`` = the old one), which is the leg from
    then on.
    """

    name: ClassVar[str] = "alpaca"
    display_name: ClassVar[str] = "Alpaca"
    #: a live run with --broker alpaca and no --data-source takes Alpaca's own bars
    data_source: ClassVar[str | None] = "alpaca"
    features: ClassVar[Mapping[str, str]] = {
        "assets": "US stocks and ETFs (fractional where fractionable), crypto 24/7",
        "orders": "market, limit, stop, stop_limit, trailing_stop, bracket (sl/tp), oco exits, "
        "notional",
        "modes": "paper, live",
    }
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.MARKET,
            Capability.LIMIT,
            Capability.STOP,
            Capability.STOP_LIMIT,
            Capability.BRACKET,  # stocks only: crypto takes no bracket or OCO at Alpaca
            Capability.OCO,
            Capability.REPLACE,
            Capability.PARTIAL_FILLS,
            Capability.FRACTIONAL,
            Capability.SHORT,
            Capability.EXECUTIONS,
            Capability.NETWORK,
        }
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        params = dict(config.additional_params)
        self._timeout = float(params.get("timeout", 10.0))
        self._attempts = int(params.get("retry_attempts", 4))
        self._backoff = float(params.get("retry_backoff", 0.5))
        self._use_stream = bool(params.get("stream", True))
        self._stream_wait = float(params.get("stream_wait", 10.0))
        self._reconcile_interval = float(params.get("reconcile_interval", 60.0))
        self._clock_ttl = float(params.get("clock_ttl", 30.0))
        self._client: Any = None
        self._retrier: Retrier | None = None
        self._stream: TradeUpdateStream | None = None
        self._fills = FillBook()
        self._lock = threading.Lock()
        self._tracked: dict[str, dict[str, Any]] = {}  # cid -> {id, symbol, side, class, open}
        self._leg_owner: dict[str, tuple[str, str]] = {}  # leg order id -> (parent cid, tp|sl)
        self._cid_of: dict[str, str] = {}  # Alpaca order id -> its client order id (tracked)
        self._account_id = ""
        self._spelling: dict[str, str] = {}  # position symbol -> the caller's spelling
        self._assets: dict[str, AssetInfo] = {}
        self._clock: tuple[float, bool, str] | None = None  # (valid until, is_open, next_open)
        self._seen_generation = 0
        self._last_reconcile = 0.0

    # -- credentials and setup -------------------------------------------------------------
    @classmethod
    def credential_status(cls, env: Mapping[str, str]) -> CredentialStatus:
        return credentials.credential_status(env)

    @classmethod
    def setup_instructions(cls) -> str:
        return credentials.setup_instructions()

    @classmethod
    def validate_credentials(cls, env: Mapping[str, str], paper: bool = True) -> str:
        """Call GET /v2/account with the credentials found in ``env``; the account number."""
        broker = cls(BrokerConfig("alpaca", paper_trading=paper, credentials=dict(env)))
        broker._open_client()
        try:
            account = broker._call("get account", broker._client.get_account)
        except Exception as exc:
            raise broker._connect_error(exc) from None
        return str(account.account_number)

    def _env(self) -> Mapping[str, str]:
        return self.config.credentials or os.environ

    def _open_client(self) -> None:
        from alpaca.trading.client import TradingClient

        from .http import Retrier, harden

        creds = credentials.resolve(self._env(), paper=self.config.paper_trading)
        self._creds = creds
        self._retrier = Retrier(attempts=self._attempts, backoff=self._backoff)
        client = TradingClient(
            creds.key, creds.secret, paper=creds.paper, url_override=creds.base_url
        )
        self._client = harden(client, self._timeout)

    def _connect_error(self, exc: Exception) -> BrokerError:
        from .http import api_message, status_of

        creds = self._creds
        if status_of(exc) in (401, 403):
            return BrokerError(
                f"Alpaca refused the credentials from {creds.source} at {creds.base_url} "
                f"({api_message(exc)}). Check the keys belong to the "
                f"{'paper' if creds.paper else 'live'} account; see: stratequeue --broker-setup alpaca"
            )
        return BrokerError(
            f"Alpaca at {creds.base_url} did not answer ({api_message(exc)}). Check the network "
            f"and {'PAPER_ENDPOINT' if creds.paper else 'ALPACA_BASE_URL'}."
        )

    # -- the account ------------------------------------------------------------------------
    def connect(self) -> bool:
        self._open_client()
        try:
            account = self._call("get account", self._client.get_account)
        except Exception as exc:
            error = self._connect_error(exc)
            if "refused the credentials" in str(error):
                raise error from None
            log.error("%s", error)
            return False
        self._account_id = str(account.id)
        log.info(
            "Connected to Alpaca %s account %s (%s)",
            "paper" if self._creds.paper else "LIVE",
            account.account_number,
            self._creds.source,
        )
        if self._use_stream:
            self._start_stream()
        self._last_reconcile = time.monotonic()
        return True

    def _start_stream(self) -> None:
        from .stream import TradeUpdateStream

        creds = self._creds
        self._stream = TradeUpdateStream(
            creds.key,
            creds.secret,
            creds.stream_url,
            paper=creds.paper,
            on_update=self._on_trade_update,
            reconnect_backoff=min(1.0, max(self._backoff, 0.05)),
        )
        if not self._stream.start(wait=self._stream_wait):
            log.warning(
                "Alpaca trade_updates stream at %s not connected after %.0fs; confirming fills "
                "by polling until it is",
                creds.stream_url,
                self._stream_wait,
            )
        self._seen_generation = self._stream.generation

    def disconnect(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream = None

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        assert self._retrier is not None, "call connect() first"
        return self._retrier.call(what, lambda: fn(*args))

    def _require(self) -> None:
        if self._client is None:
            raise BrokerError("The Alpaca broker is not connected: call connect() first.")

    def get_account_info(self) -> AccountInfo:
        self._require()
        account = self._call("get account", self._client.get_account)
        return AccountInfo(
            account_id=str(account.account_number),
            cash=_num(account.cash),
            equity=_num(account.equity),
            buying_power=_num(account.buying_power),
            currency=str(account.currency or "USD"),
            positions=tuple(self.get_positions()),
            mode="paper" if self._creds.paper else "live",
        )

    def get_positions(self) -> list[Position]:
        self._require()
        positions = []
        for p in self._call("get positions", self._client.get_all_positions):
            qty = abs(_num(p.qty)) * (-1 if _enum(p.side) == "short" else 1)
            symbol = self._spelling.get(p.symbol) or (
                pair(p.symbol) if _enum(p.asset_class) == "crypto" else p.symbol
            )
            price = _num(p.current_price) if p.current_price is not None else None
            positions.append(Position(symbol, qty, _num(p.avg_entry_price), price))
        return positions

    def _position_qty(self, symbol: str) -> float:
        from .http import status_of

        try:
            p = self._call("get position", self._client.get_open_position, position_symbol(symbol))
        except Exception as exc:
            if status_of(exc) == 404:
                return 0.0
            raise
        return abs(_num(p.qty)) * (-1 if _enum(p.side) == "short" else 1)

    def _market_clock(self) -> tuple[bool, str]:
        self._require()
        now = time.monotonic()
        if self._clock is None or now >= self._clock[0]:
            clock = self._call("get clock", self._client.get_clock)
            self._clock = (now + self._clock_ttl, bool(clock.is_open), clock.next_open.isoformat())
        return self._clock[1], self._clock[2]

    # -- orders -----------------------------------------------------------------------------
    def _asset(self, symbol: str) -> AssetInfo:
        from .orders import AssetInfo

        key = position_symbol(symbol)
        if key not in self._assets:
            asset = self._call("get asset", self._client.get_asset, key)
            self._assets[key] = AssetInfo(
                symbol=key,
                crypto=_enum(asset.asset_class) == "crypto",
                tradable=bool(asset.tradable),
                fractionable=bool(asset.fractionable),
                shortable=bool(asset.shortable and asset.easy_to_borrow),
            )
        return self._assets[key]

    def _check_short(self, order: BrokerOrder, asset: AssetInfo) -> None:
        from .orders import OrderRefused

        if order.side is not Side.SELL:
            return
        held = self._position_qty(order.symbol)
        if order.notional is not None:
            if held <= 0:
                raise OrderRefused(f"a notional sell of {order.symbol} cannot open a short")
            return
        qty = order.qty or 0.0
        if qty <= held + 1e-9:
            return
        what = f"selling {qty:g} {order.symbol} with {held:g} held would open a short"
        if asset.crypto:
            raise OrderRefused(f"{what}, and Alpaca does not short crypto")
        if not asset.shortable:
            raise OrderRefused(
                f"{what}, and {order.symbol} is not shortable (easy to borrow) at Alpaca"
            )
        if abs(qty - round(qty)) > 1e-9:
            raise OrderRefused(f"{what}, and Alpaca does not short fractional shares")

    def _check_clock(self, order: BrokerOrder, asset: AssetInfo) -> None:
        from .orders import OrderRefused

        if asset.crypto or order.order_type is not OrderType.MARKET:
            return
        if (order.time_in_force or "day").lower() in ("opg", "cls", "gtc"):
            return
        is_open, next_open = self._market_clock()
        if not is_open:
            raise OrderRefused(
                f"the US stock market is closed (next open {next_open}); market orders for "
                f"{order.symbol} are sent only while it is open, or with time_in_force 'opg'"
            )

    def submit_order(self, order: BrokerOrder) -> OrderAck:
        """Place ``order`` once: an id Alpaca already knows returns that order's state."""
        self._require()
        from .http import api_message
        from .orders import OrderRefused, build_request

        self._spelling.setdefault(position_symbol(order.symbol), order.symbol)
        try:
            asset = self._asset(order.symbol)
            self._check_short(order, asset)
            self._check_clock(order, asset)
            request = build_request(order, asset)
        except OrderRefused as exc:
            return self._refused(order, str(exc))
        except Exception as exc:  # Alpaca unreachable or refusing: nothing was sent
            if _is_permanent(exc):
                return self._refused(order, api_message(exc))
            log.error(
                "Order %s not sent: Alpaca did not answer (%s)",
                order.client_order_id,
                api_message(exc),
            )
            return OrderAck(
                order.client_order_id,
                OrderStatus.PENDING,
                message=f"not sent: Alpaca did not answer ({api_message(exc)})",
                symbol=order.symbol,
            )
        if order.client_order_id in self._tracked:  # sent before in this session
            try:
                existing = self._lookup(order.client_order_id)
            except Exception as exc:
                return self._unknown(order, f"Alpaca could not show it ({api_message(exc)})")
            if existing is not None:
                return self._ack(existing, order.symbol)
        return self._send(order, request)

    def _send(self, order: BrokerOrder, request: Any) -> OrderAck:
        """POST the order. Once a request has left, Alpaca may hold the order whatever the
        answer said: a duplicate-id refusal, a timeout, a 429 or a 5xx is followed by a lookup
        by client order id (itself retried) before anything is sent again, and an order that
        cannot be found or ruled out is UNKNOWN (open: the next poll or start resolves it),
        never REJECTED."""
        from .http import api_message, is_transient, status_of

        assert self._retrier is not None
        cid = order.client_order_id
        last = ""
        for attempt in range(self._retrier.attempts):
            try:
                placed = self._client.submit_order(request)
            except Exception as exc:
                last = api_message(exc)
                duplicate = _is_duplicate(exc)
                if not duplicate and not is_transient(exc):
                    return self._refused(order, last)  # Alpaca refused it: nothing was placed
                if not duplicate:
                    wait = self._retrier.delay(attempt)
                    log.warning(
                        "Order %s: Alpaca %s (%s); checking whether it was placed before "
                        "retrying in %.2fs",
                        cid,
                        status_of(exc) or type(exc).__name__,
                        last,
                        wait,
                    )
                    time.sleep(wait)
                try:
                    existing = self._lookup(cid)
                except Exception as lookup_error:
                    return self._unknown(
                        order, f"{last}; the lookup failed too ({api_message(lookup_error)})"
                    )
                if existing is not None:
                    log.info("Order %s was already placed at Alpaca; not sending it again", cid)
                    self._track(existing, order.symbol)
                    return self._ack(existing, order.symbol)
                if duplicate:
                    return self._unknown(order, f"{last}, but Alpaca cannot show it yet")
                continue  # Alpaca does not have it: the same id may go again
            self._track(placed, order.symbol)
            log.info("Order %s placed at Alpaca as %s (%s)", cid, placed.id, _enum(placed.status))
            return self._ack(placed, order.symbol)
        return self._unknown(order, f"unconfirmed after {self._retrier.attempts} attempts ({last})")

    def _ack(
        self, alpaca_order: Any, symbol: str | None = None, *, record: bool = True
    ) -> OrderAck:
        from .orders import ack_from_order

        if record and not self._stream_healthy():  # else the stream reports fills
            self._record_polled([alpaca_order])
        return ack_from_order(alpaca_order, symbol or self._symbol_for(alpaca_order))

    def _stream_healthy(self) -> bool:
        return self._stream is not None and self._stream.healthy

    def _symbol_for(self, alpaca_order: Any) -> str:
        tracked = self._tracked.get(alpaca_order.client_order_id)
        if tracked:
            return tracked["symbol"]
        raw = alpaca_order.symbol or ""
        return self._spelling.get(position_symbol(raw), raw)

    def _lookup(self, client_order_id: str) -> Any | None:
        from .http import status_of

        try:
            return self._call("order lookup", self._client.get_order_by_client_id, client_order_id)
        except Exception as exc:
            if status_of(exc) == 404:
                return None
            raise

    def _track(self, alpaca_order: Any, symbol: str, *, is_open: bool = True) -> None:
        with self._lock:
            self._tracked[alpaca_order.client_order_id] = {
                "id": str(alpaca_order.id),
                "symbol": symbol,
                "side": Side(_enum(alpaca_order.side)),
                "class": _enum(alpaca_order.order_class) or "simple",
                "open": is_open,
            }
            self._cid_of[str(alpaca_order.id)] = alpaca_order.client_order_id
            for leg in alpaca_order.legs or []:
                suffix = _LEG_SUFFIX.get(_enum(leg.type or leg.order_type), "leg")
                self._leg_owner[str(leg.id)] = (alpaca_order.client_order_id, suffix)

    def _leg(self, client_order_id: str) -> tuple[Any, Any] | None:
        """For a leg name ``<parent id>/tp|sl``: (the parent, nested; the leg working now), or
        None when ``client_order_id`` names no leg of an order Alpaca has."""
        parent_cid, _, suffix = client_order_id.rpartition("/")
        if suffix not in ("tp", "sl") or not parent_cid:
            return None
        from alpaca.trading.requests import GetOrderByIdRequest

        parent = self._lookup(parent_cid)
        if parent is None:
            return None
        nested = GetOrderByIdRequest(nested=True)
        parent = self._call("order lookup", self._client.get_order_by_id, str(parent.id), nested)
        if parent_cid not in self._tracked:
            self._track(parent, self._symbol_for(parent))
        if _enum(parent.order_class) == "oco" and suffix == "tp":  # the OCO's limit is its tp
            return parent, parent
        for leg in parent.legs or []:
            if _LEG_SUFFIX.get(_enum(leg.type or leg.order_type)) == suffix:
                return parent, leg
        return None

    def _leg_ack(self, client_order_id: str, parent: Any, leg: Any, message: str = "") -> OrderAck:
        from .orders import ack_from_order

        self._ack(parent)  # records fills seen in the polled state, as for any order
        return _renamed(ack_from_order(leg, self._symbol_for(parent), message), client_order_id)

    def cancel_order(self, client_order_id: str) -> OrderAck:
        self._require()
        from .http import api_message, status_of

        found = self._leg(client_order_id)
        existing = found[1] if found else self._lookup(client_order_id)
        if existing is None:
            return OrderAck(
                client_order_id,
                OrderStatus.REJECTED,
                message=f"Alpaca has no order with client_order_id {client_order_id}",
            )
        message = ""
        try:
            self._call("cancel order", self._client.cancel_order_by_id, str(existing.id))
        except Exception as exc:
            if status_of(exc) not in (404, 422):
                raise
            message = f"not canceled: {api_message(exc)}"
        if found is not None:
            parent, leg = self._leg(client_order_id) or found
            return self._leg_ack(client_order_id, parent, leg, message)
        current = self._lookup(client_order_id) or existing
        return _with_message(self._ack(current), message)

    def replace_order(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> OrderAck:
        """New prices for a working order: ``PATCH /v2/orders/{id}``. Alpaca places a new order
        (its id replaces the old one's; the old one's status becomes ``replaced``). A leg name
        (``<parent id>/sl``) replaces that leg and keeps the name (``new_client_order_id`` is
        then unused: Alpaca names legs itself); any other order takes ``new_client_order_id``.
        A refusal (e.g. the order filled meanwhile) comes back REJECTED with Alpaca's message."""
        self._require()
        from alpaca.trading.requests import ReplaceOrderRequest

        from .http import api_message
        from .orders import ack_from_order, price

        found = self._leg(client_order_id)
        current = found[1] if found else self._lookup(client_order_id)
        if current is None or _enum(current.status) in _CLOSED:
            state = _enum(current.status) if current is not None else "unknown to Alpaca"
            return OrderAck(
                client_order_id,
                OrderStatus.REJECTED,
                message=f"order {client_order_id} cannot be replaced: it is {state}",
            )
        symbol = self._symbol_for(found[0] if found else current)
        crypto = self._asset(symbol).crypto
        request = ReplaceOrderRequest(
            limit_price=price(limit_price, crypto),
            stop_price=price(stop_price, crypto),
            client_order_id=None if found else new_client_order_id,
        )
        try:
            placed = self._call(
                "replace order", self._client.replace_order_by_id, str(current.id), request
            )
        except Exception as exc:
            if not _is_permanent(exc):
                raise
            placed = self._replacement(str(current.id))  # a retried PATCH after the first worked
            if placed is None:
                log.warning("Order %s not replaced: %s", client_order_id, api_message(exc))
                return OrderAck(
                    client_order_id,
                    OrderStatus.REJECTED,
                    message=api_message(exc),
                    symbol=symbol,
                )
        log.info("Order %s replaced at Alpaca: %s -> %s", client_order_id, current.id, placed.id)
        if found is not None:
            with self._lock:
                owner = self._leg_owner.pop(str(current.id), None)
                if owner is not None:
                    self._leg_owner[str(placed.id)] = owner
            return _renamed(ack_from_order(placed, symbol), client_order_id)
        self._track(placed, symbol)
        with self._lock:
            self._tracked.get(client_order_id, {})["open"] = False
        return self._ack(placed, symbol)

    def _replacement(self, order_id: str) -> Any | None:
        """The order that replaced ``order_id``, if Alpaca replaced it."""
        old = self._call("order lookup", self._client.get_order_by_id, order_id)
        if old.replaced_by is None:
            return None
        return self._call("order lookup", self._client.get_order_by_id, str(old.replaced_by))

    def get_order(self, client_order_id: str) -> OrderAck | None:
        self._require()
        leg = self._leg(client_order_id)
        if leg is not None:
            return self._leg_ack(client_order_id, *leg)
        found = self._lookup(client_order_id)
        if found is None:
            return None
        if _enum(found.order_class) == "oco" and not found.legs:  # its stop leg is needed
            from alpaca.trading.requests import GetOrderByIdRequest

            nested = GetOrderByIdRequest(nested=True)
            found = self._call("order lookup", self._client.get_order_by_id, str(found.id), nested)
        if client_order_id not in self._tracked:
            self._track(found, self._symbol_for(found))
        return self._ack(found)

    def get_open_orders(self) -> list[OrderAck]:
        self._require()
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500, nested=True)
        orders = self._call("list open orders", self._client.get_orders, request)
        for o in orders:  # legs known before their fills are recorded
            if o.legs and o.client_order_id not in self._tracked:
                self._track(o, self._symbol_for(o))
        if not self._stream_healthy():
            self._record_polled(orders)
        return [self._ack(o, record=False) for o in orders]

    # -- fills ------------------------------------------------------------------------------
    def _owner(self, order: Any) -> tuple[str, str] | None:
        """(parent cid, tp|sl) when ``order`` is a bracket's or OCO's leg, also a leg's
        replacement whose PATCH answer has not arrived yet (it ``replaces`` a known leg).
        Call with the lock held."""
        owner = self._leg_owner.get(str(order.id))
        if owner is None and order.replaces is not None:
            owner = self._leg_owner.get(str(order.replaces))
        return owner

    def _on_trade_update(self, update: Any) -> None:
        event = _enum(update.event)
        order = update.order
        with self._lock:
            owner = self._owner(order)
            cid = owner[0] if owner else order.client_order_id
            tracked = self._tracked.get(cid)
            if tracked is not None and (
                (owner is None and _is_done(order))
                or (tracked["class"] == "oco" and event == "fill")  # one leg filled: all done
            ):
                tracked["open"] = False
        if event not in _FILL_EVENTS:
            log.debug("Alpaca trade update %s for %s", event, order.client_order_id)
            return
        if not update.execution_id:  # never a made-up id: the next poll reads the activities
            log.warning("Alpaca %s of %s came without an execution id", event, cid)
            with self._lock:
                if tracked is not None:
                    tracked["open"] = True
            return
        cid, symbol, side = self._fill_identity(order)
        self._fills.record(
            cid,
            symbol,
            side,
            cumulative_qty=_num(order.filled_qty),
            avg_price=_num(order.filled_avg_price) or None,
            timestamp=update.timestamp,
            execution_id=str(update.execution_id),
            price=update.price,
            qty=update.qty,
        )

    def _fill_identity(self, order: Any) -> tuple[str, str, Side]:
        with self._lock:
            owner = self._owner(order)
            if owner is not None:
                parent = self._tracked.get(owner[0], {})
                return (
                    f"{owner[0]}/{owner[1]}",
                    parent.get("symbol", order.symbol),
                    Side(_enum(order.side)),
                )
            tracked = self._tracked.get(order.client_order_id)
        cid = order.client_order_id
        oco = tracked["class"] == "oco" if tracked else bool(order.legs)
        if oco and _enum(order.order_class) == "oco":  # the OCO's own limit order is its tp
            cid = f"{cid}/tp"
        if tracked is not None:
            return cid, tracked["symbol"], tracked["side"]
        return cid, self._symbol_for(order), Side(_enum(order.side))

    def _record_polled(self, orders: list[Any]) -> set[str]:
        """Queue the executions of ``orders`` (and their legs) not reported yet, read from the
        account's FILL activities so they carry Alpaca's ids (the stream may have missed them).
        Returns the ids of the orders whose filled quantity is still not accounted for (the
        activities were unreachable, or do not show the execution yet): poll them again."""
        pending: dict[str, Any] = {}
        for order in orders:
            for o in [order, *(order.legs or [])]:
                cid = self._fill_identity(o)[0]
                if _num(o.filled_qty) > self._fills.reported_qty(cid) + _EPS:
                    pending[str(o.id)] = o
        if not pending:
            return set()
        since = min(utc(o.submitted_at or o.created_at) for o in pending.values())
        try:
            activities = self._fill_activities(since)
        except Exception as exc:
            log.warning("Could not read Alpaca's fill activities: %s", exc.__class__.__name__)
            return set(pending)
        for activity in _in_execution_order(activities):
            o = pending.get(str(activity.order_id))
            if o is None:
                continue
            cid, symbol, side = self._fill_identity(o)
            self._fills.record(
                cid,
                symbol,
                side,
                cumulative_qty=float(activity.cum_qty),
                avg_price=None,
                timestamp=activity.transaction_time,
                execution_id=activity.id,
                price=float(activity.price),
                qty=float(activity.qty),
            )
        missing = {
            order_id
            for order_id, o in pending.items()
            if _num(o.filled_qty) > self._fills.reported_qty(self._fill_identity(o)[0]) + _EPS
        }
        if missing:
            log.info("Alpaca's fill activities do not show every fill of %s yet", sorted(missing))
        return missing

    def _fill_activities(self, since: datetime | None) -> list[Any]:
        from .activities import fill_activities

        def get(path: str, params: dict[str, Any]) -> Any:
            return self._call("list fill activities", self._client.get, path, params)

        return fill_activities(get, self._account_id, since)

    def get_executions(self, since: datetime | None = None) -> list[Fill]:
        """Every execution of the account since ``since``, from its FILL activities: each
        with the activity's id and the order's cumulative quantity, named by the client order
        id of its order (``<parent id>/tp`` or ``/sl`` for bracket and OCO legs)."""
        self._require()
        activities = self._fill_activities(None if since is None else utc(since))
        self._learn({str(a.order_id) for a in activities}, since)
        fills = []
        for a in activities:
            cid, symbol = self._identity_of(str(a.order_id), a.symbol)
            fills.append(
                Fill(
                    cid,
                    symbol,
                    Side(_enum(a.side)),
                    float(a.qty),
                    float(a.price),
                    utc(a.transaction_time),
                    execution_id=a.id,
                    cum_qty=float(a.cum_qty),
                )
            )
        return fills

    def _identity_of(self, order_id: str, raw_symbol: str) -> tuple[str, str]:
        """The client order id and symbol spelling an execution of ``order_id`` reports."""
        with self._lock:
            owner = self._leg_owner.get(order_id)
            if owner is not None:
                parent = self._tracked[owner[0]]
                return f"{owner[0]}/{owner[1]}", parent["symbol"]
            cid = self._cid_of.get(order_id)
            if cid is not None:
                tracked = self._tracked[cid]
                return (f"{cid}/tp" if tracked["class"] == "oco" else cid), tracked["symbol"]
        return order_id, self._spelling.get(position_symbol(raw_symbol), raw_symbol)

    def _learn(self, order_ids: set[str], since: datetime | None) -> None:
        """Track the orders of ``order_ids`` (their client ids, and whose legs they are)."""
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrderByIdRequest, GetOrdersRequest

        def unknown() -> set[str]:
            with self._lock:
                return {i for i in order_ids if i not in self._cid_of and i not in self._leg_owner}

        if not unknown():
            return
        request = GetOrdersRequest(
            status=QueryOrderStatus.ALL,
            limit=500,
            nested=True,
            after=None if since is None else utc(since) - timedelta(days=1),
        )
        for o in self._call("list orders", self._client.get_orders, request):
            if o.client_order_id not in self._tracked:
                self._track(o, self._symbol_for(o), is_open=not _is_done(o))
        nested = GetOrderByIdRequest(nested=True)
        for order_id in unknown():  # beyond the listed window: one by one
            o = self._call("order lookup", self._client.get_order_by_id, order_id, nested)
            self._track(o, self._symbol_for(o), is_open=not _is_done(o))

    def poll_fills(self) -> list[Fill]:
        """Fills since the last call: from the stream, confirmed by polling when it is down,
        has reconnected (updates may have been missed), or every ``reconcile_interval``."""
        stream = self._stream
        healthy = stream is not None and stream.healthy
        gap = stream is None or not healthy or stream.generation != self._seen_generation
        due = time.monotonic() - self._last_reconcile >= self._reconcile_interval
        if self._client is not None and (gap or due) and self._has_open():
            self._reconcile()
            if healthy and stream is not None:
                self._seen_generation = stream.generation
        return self._fills.drain()

    def _has_open(self) -> bool:
        with self._lock:
            return any(t["open"] for t in self._tracked.values())

    def _reconcile(self) -> None:
        from alpaca.trading.requests import GetOrderByIdRequest

        nested = GetOrderByIdRequest(nested=True)
        self._last_reconcile = time.monotonic()
        with self._lock:
            open_ids = [(cid, t["id"]) for cid, t in self._tracked.items() if t["open"]]
        polled = []
        for cid, order_id in open_ids:
            try:
                order = self._call("poll order", self._client.get_order_by_id, order_id, nested)
            except Exception as exc:
                log.warning("Could not poll order %s: %s", cid, exc.__class__.__name__)
                continue
            polled.append((cid, order))
        missing = self._record_polled([order for _, order in polled])
        for cid, order in polled:
            accounted = not {str(o.id) for o in [order, *(order.legs or [])]} & missing
            if _is_done(order) and accounted:
                with self._lock:
                    self._tracked[cid]["open"] = False


_CLOSED = {"filled", "canceled", "expired", "replaced", "rejected", "done_for_day"}


def _is_done(order: Any) -> bool:
    """Closed with every leg closed too (a bracket's or an OCO's legs outlive their parent)."""
    legs_open = any(_enum(leg.status) not in _CLOSED for leg in order.legs or [])
    return _enum(order.status) in _CLOSED and not legs_open


def _renamed(ack: OrderAck, client_order_id: str) -> OrderAck:
    from dataclasses import replace

    return replace(ack, client_order_id=client_order_id)


def _with_message(ack: OrderAck, message: str) -> OrderAck:
    if not message:
        return ack
    from dataclasses import replace

    return replace(ack, message=message)


def _is_duplicate(exc: Exception) -> bool:
    from .http import api_message, status_of

    return status_of(exc) == 422 and "client_order_id" in api_message(exc)


def _is_permanent(exc: Exception) -> bool:
    from .http import status_of

    status = status_of(exc)
    return status is not None and 400 <= status < 500 and status != 429


def _in_execution_order(activities: list[Any]) -> list[Any]:
    """``activities`` (listed oldest first) in the order they executed: the listing's order
    across orders, and each order's own executions by cumulative quantity (executions in one
    millisecond can be listed in any order). Never sorted by quantity across orders: two
    orders filled in one bar reach the books in the order they executed, which decides which
    trade a later FIFO exit closes."""
    own: dict[str, list[Any]] = {}
    for activity in activities:
        own.setdefault(str(activity.order_id), []).append(activity)
    queues = {k: iter(sorted(v, key=lambda a: float(a.cum_qty))) for k, v in own.items()}
    return [next(queues[str(activity.order_id)]) for activity in activities]
