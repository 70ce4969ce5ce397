"""The Coinbase Advanced Trade broker (live only: Coinbase has no paper trading).

- Orders carry our client order id as Coinbase's ``client_order_id``; the broker knows every
  recent order by it (read at connect), so a restart never sends one twice.
- A rejection is HTTP 200 with ``success: false``: it is REJECTED with Coinbase's reason.
- Fills: the user WebSocket channel says which orders moved, the fills endpoint is the truth;
  each trade id is delivered once (``poll_fills``), with the order's cumulative quantity.
- Replace is Coinbase's edit of a GTC limit order, which keeps the order's ``client_order_id``:
  the new client order id is journaled (:mod:`.edits`) before the edit leaves, and the order
  answers under it from then on, also after a restart.
- Spot has no positions: balances (available + hold) are the positions, priced at the
  product's last price; the cash currency's balance is the cash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from stratequeue.brokers.base import (
    BaseBroker,
    BrokerConfig,
    Capability,
    CredentialStatus,
    OrderAck,
)
from stratequeue.data.live import Backoff
from stratequeue.errors import BrokerError
from stratequeue.models import AccountInfo, BrokerOrder, Fill, OrderStatus, Position

from . import config as cfg
from .client import CoinbaseClient, Feed, Refused, Transient
from .edits import Edit, Edits
from .orders import Unsupported, ack_from, exit_leg, fill_from, order_body
from .products import Product, product_id, said_once

__all__ = ["CoinbaseBroker", "CoinbaseProBroker"]

log = logging.getLogger(__name__)

_FINAL = ("FILLED", "CANCELLED", "EXPIRED", "FAILED")


class CoinbaseBroker(BaseBroker):
    name: ClassVar[str] = "coinbase"
    display_name: ClassVar[str] = "Coinbase Advanced Trade"
    features: ClassVar[Mapping[str, str]] = {
        "assets": "crypto spot",
        "orders": (
            "market, limit (GTC/GTD/IOC/FOK), stop-limit, exit pair (sl/tp); "
            "replace of a GTC limit order's price (Coinbase's edit)"
        ),
        "paper": "none at Coinbase: --paper uses the local paper broker on Coinbase data",
    }
    #: Coinbase has no paper trading: ``--paper --broker coinbase`` runs the local paper broker
    #: (read by ``stratequeue.brokers.choose``)
    paper_account: ClassVar[bool] = False
    data_source: ClassVar[str | None] = "coinbase"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.MARKET,
            Capability.LIMIT,
            Capability.STOP_LIMIT,
            Capability.OCO,
            Capability.REPLACE,
            Capability.PARTIAL_FILLS,
            Capability.FRACTIONAL,
            Capability.EXECUTIONS,
            Capability.NETWORK,
        }
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        params = config.additional_params
        self.settings = cfg.settings_from(config.credentials)
        self.cash_currency = str(params.get("cash_currency", "USD"))
        self.timeout = float(params.get("timeout", 10.0))
        self.retries = int(params.get("retries", 3))
        self.backoff = Backoff(float(params.get("retry_backoff", 0.5)), 8.0)
        #: seconds between polls of every working order's fills (0: at every poll_fills)
        self.reconcile_interval = float(params.get("reconcile_interval", 5.0))
        #: how far back the orders read at connect go (a restart finds its orders there)
        self.lookback = timedelta(days=float(params.get("lookback_days", 7)))
        self.ca_file = str(config.credentials.get("COINBASE_CA_FILE", "")) or None
        self.client: CoinbaseClient | None = None
        self.feed: Feed | None = None
        #: the journal of edits (option ``journal``, else coinbase-edits.sqlite in the home)
        self._journal_path = params.get("journal")
        self._edits: Edits | None = None
        self._lock = threading.Lock()
        self._products: dict[str, Product] = {}
        self._prices: dict[str, float] = {}  # product id -> last price read
        self._symbols: dict[str, str] = {}  # product id -> the symbol the user wrote
        self._orders: dict[str, dict[str, Any]] = {}  # order id -> Coinbase's order
        self._by_cid: dict[str, str] = {}  # client order id -> order id
        self._rejected: dict[str, OrderAck] = {}
        self._active: set[str] = set()  # order ids whose fills are still coming
        self._dirty: set[str] = set()  # order ids the user channel says moved
        self._seen: set[str] = set()  # trade ids delivered
        self._last_poll = 0.0

    # -- credentials ------------------------------------------------------------------------
    @classmethod
    def credential_status(cls, env: Mapping[str, str]) -> CredentialStatus:
        return cfg.credential_status(env)

    @classmethod
    def setup_instructions(cls) -> str:
        return cfg.setup_instructions()

    @classmethod
    def validate_credentials(cls, env: Mapping[str, str], paper: bool = False) -> str:
        """For ``--broker-setup``: the key reads the accounts and may trade (nothing sent)."""
        settings = cfg.settings_from(env)
        client = CoinbaseClient(settings, ca_file=env.get("COINBASE_CA_FILE") or None)
        try:
            accounts = cls._check_key(client)
        finally:
            client.close()
        currencies = ", ".join(sorted({str(a.get("currency")) for a in accounts})) or "none"
        return f"{settings.host}, View and Trade permitted, accounts in {currencies}"

    @staticmethod
    def _check_key(client: CoinbaseClient) -> list[dict[str, Any]]:
        """The key's permissions and the accounts it reads; stops a key that cannot trade."""
        try:
            permissions = client.key_permissions()
            accounts = client.accounts()
        except Transient as exc:
            raise BrokerError(
                f"Coinbase at {client.settings.rest_root} could not be reached ({exc}): check "
                "COINBASE_BASE_URL and this machine's network"
            ) from None
        if not permissions.get("can_trade"):
            raise BrokerError(
                "This Coinbase API key cannot trade (no Trade permission): create a key with "
                "View and Trade. See: stratequeue --broker-setup coinbase"
            )
        return accounts

    # -- connection -------------------------------------------------------------------------
    @property
    def api(self) -> CoinbaseClient:
        if self.client is None:
            raise BrokerError("The Coinbase broker is not connected: call connect() first.")
        return self.client

    def connect(self) -> bool:
        if self.config.paper_trading:
            raise BrokerError(
                "Coinbase has no paper trading: --paper runs the local paper broker (on "
                "--data-source coinbase for Coinbase's prices); trade with --live."
            )
        self.client = CoinbaseClient(
            self.settings,
            ca_file=self.ca_file,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
        )
        self._check_key(self.api)
        path = self._journal_path or cfg.home(self.config.credentials) / "coinbase-edits.sqlite"
        self._edits = Edits(path)
        self._read_recent_orders()
        self.feed = Feed(
            self.settings.ws_user_url,
            ["user", "heartbeats"],
            [],
            self._on_user_message,
            token=self.api.token,
            tls=self.api.tls,
            on_connect=self._on_feed_connect,
            backoff=Backoff(float(self.config.additional_params.get("stream_backoff", 0.5)), 30.0),
            name="coinbase-user",
        )
        self.feed.start()
        wait = float(self.config.additional_params.get("stream_wait", 5.0))
        if not self.feed.connected.wait(wait):
            log.warning(
                "The Coinbase user channel %s did not connect within %gs: fills are polled "
                "until it does",
                self.settings.ws_user_url,
                wait,
            )
        return True

    def disconnect(self) -> None:
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._edits is not None:
            self._edits.close()
            self._edits = None

    @property
    def edits(self) -> Edits:
        if self._edits is None:
            raise BrokerError("The Coinbase broker is not connected: call connect() first.")
        return self._edits

    def _read_recent_orders(self) -> None:
        start = (datetime.now(UTC) - self.lookback).strftime("%Y-%m-%dT%H:%M:%SZ")
        for order in self.api.list_orders(start_date=start):
            self._remember(order)
            if order.get("status") not in _FINAL:
                self._active.add(str(order["order_id"]))

    def _remember(self, order: dict[str, Any]) -> None:
        with self._lock:
            oid = str(order["order_id"])
            self._orders[oid] = order
            cid = str(order.get("client_order_id") or "")
            if cid:
                self._by_cid[cid] = oid

    # -- the user channel -------------------------------------------------------------------
    def _on_user_message(self, message: dict[str, Any]) -> None:
        if message.get("channel") != "user":
            return
        for event in message.get("events", []):
            for order in event.get("orders", []):
                with self._lock:
                    self._dirty.add(str(order.get("order_id", "")))

    def _on_feed_connect(self) -> None:
        """(Re)subscribed: what moved while disconnected is looked up at the next poll."""
        with self._lock:
            self._dirty |= self._active

    # -- products and symbols ---------------------------------------------------------------
    def _product(self, symbol: str) -> Product:
        pid = product_id(symbol, self.cash_currency)
        said_once(symbol, pid)
        self._symbols.setdefault(pid, symbol)
        if pid not in self._products:
            self._products[pid] = Product.from_wire(self.api.product(pid))
        return self._products[pid]

    def _symbol(self, pid: str) -> str:
        return self._symbols.get(pid, pid)

    # -- orders -----------------------------------------------------------------------------
    def submit_order(self, order: BrokerOrder) -> OrderAck:
        known = self._known(order.client_order_id)
        if known is not None:
            return known
        try:
            product = self._product(order.symbol)
            body = order_body(order, product)
        except Unsupported as exc:
            return self._refused(order, str(exc))
        except Refused as exc:
            return self._refused(order, f"product {order.symbol} could not be read: {exc}")
        except Transient as exc:
            return self._not_sent(order, str(exc))
        for attempt in range(self.retries + 1):
            try:
                reply = self.api.create_order(body)
            except Refused as exc:
                return self._refused(order, str(exc))
            except Transient as exc:
                if exc.status != 429:  # the order may have been placed: look before resending
                    try:
                        found = self._find(order.client_order_id)
                    except (Transient, Refused) as lookup:
                        return self._unknown(order, f"{exc}; the lookup failed too: {lookup}")
                    if found is not None:
                        return found
                if attempt == self.retries:
                    if exc.status == 429:  # refused before placing: nothing at Coinbase
                        return self._not_sent(order, str(exc))
                    return self._unknown(order, str(exc))
                time.sleep(self.backoff.delay(attempt))
                continue
            return self._answer(order, body, reply)
        raise AssertionError("unreachable")

    def _not_sent(self, order: BrokerOrder, message: str) -> OrderAck:
        """Coinbase did not answer before anything was sent: PENDING, sent again later."""
        log.error("Order %s not sent: Coinbase did not answer (%s)", order.client_order_id, message)
        return OrderAck(
            order.client_order_id,
            OrderStatus.PENDING,
            message=f"not sent: Coinbase did not answer ({message})",
            symbol=order.symbol,
        )

    def _answer(self, order: BrokerOrder, body: dict[str, Any], reply: dict[str, Any]) -> OrderAck:
        if not reply.get("success"):
            error = reply.get("error_response") or {}
            reason = error.get("error") or reply.get("failure_reason") or "UNKNOWN_FAILURE"
            detail = error.get("message") or error.get("preview_failure_reason") or ""
            ack = self._refused(order, f"Coinbase {reason}: {detail}".rstrip(": "))
            self._rejected[order.client_order_id] = ack
            return ack
        oid = str((reply.get("success_response") or {}).get("order_id") or "")
        if not oid:
            return self._unknown(order, "Coinbase answered success without an order id")
        placed = {
            **body,
            "order_id": oid,
            "status": "OPEN",
            "filled_size": "0",
        }
        self._remember(placed)
        with self._lock:
            self._active.add(oid)
            self._dirty.add(oid)
        return ack_from(placed, order.symbol)

    def _known(self, cid: str) -> OrderAck | None:
        """The broker's answer for an id it already knows (sent before, maybe by a run
        before a restart): its current state; nothing is sent."""
        if cid in self._rejected:
            return None  # refused orders were never placed: sending again is allowed
        replaced = self.edits.replaced(cid)
        if replaced is not None:
            return self._replaced(cid, replaced)
        oid = self.edits.order_id(cid) or self._by_cid.get(cid) or self._settle(cid)
        if oid is None:
            return None
        return self._fetch(oid)

    def _settle(self, cid: str) -> str | None:
        """The order an edit named ``cid`` when that edit's answer was lost: Coinbase's order
        if it carries the edit's price and size (then the edit is journaled as placed)."""
        edit = self.edits.unsettled(cid)
        if edit is None:
            return None
        order = self.api.get_order(edit.order_id)
        if order is None or not edit.landed(order):
            return None
        self.edits.placed(cid)
        return edit.order_id

    def _replaced(self, cid: str, oid: str) -> OrderAck:
        """What an id an edit took away reads as: canceled, replaced by the edit's id."""
        order = self._orders.get(oid) or {}
        return OrderAck(
            cid,
            OrderStatus.CANCELED,
            broker_order_id=oid,
            message=f"replaced by {self.edits.name(oid, '?')} (Coinbase edited the order)",
            symbol=self._symbol(str(order.get("product_id", ""))),
        )

    def _ack(self, order: dict[str, Any]) -> OrderAck:
        """Coinbase's order as an ack under our client order id for it now."""
        ack = ack_from(order, self._symbol(str(order.get("product_id", ""))))
        name = self.edits.name(ack.broker_order_id, ack.client_order_id)
        return ack if name == ack.client_order_id else replace(ack, client_order_id=name)

    def _find(self, cid: str) -> OrderAck | None:
        """Look ``cid`` up at Coinbase (no server-side filter: recent orders are listed)."""
        self._read_recent_orders()
        return self._known(cid)

    def _fetch(self, oid: str) -> OrderAck | None:
        order = self.api.get_order(oid)
        if order is None:
            return None
        self._remember(order)
        return self._ack(order)

    def get_order(self, client_order_id: str) -> OrderAck | None:
        if client_order_id in self._rejected:
            return self._rejected[client_order_id]
        known = self._known(client_order_id)
        return known if known is not None else self._find(client_order_id)

    def get_open_orders(self) -> list[OrderAck]:
        out = []
        for order in self.api.list_orders(order_status="OPEN"):
            self._remember(order)
            ack = self._ack(order)
            if not ack.client_order_id:  # placed by hand at coinbase.com
                ack = OrderAck(**{**ack.__dict__, "client_order_id": ack.broker_order_id})
            out.append(ack)
        return out

    def cancel_order(self, client_order_id: str) -> OrderAck:
        replaced = self.edits.replaced(client_order_id)
        if replaced is not None:  # no longer working under this id
            return self._replaced(client_order_id, replaced)
        oid = self._order_id(client_order_id)
        if oid is None:
            raise BrokerError(f"Coinbase has no order {client_order_id} to cancel")
        results = self.api.cancel_orders([oid])
        if results and not results[0].get("success"):
            log.warning(
                "Coinbase did not cancel %s: %s",
                client_order_id,
                results[0].get("failure_reason", "no reason given"),
            )
        with self._lock:
            self._dirty.add(oid)  # its last fills, if any, come with the next poll
        ack = self._fetch(oid)
        if ack is None:
            raise BrokerError(f"Coinbase lost order {client_order_id} after canceling it")
        return ack

    def _order_id(self, cid: str) -> str | None:
        """Coinbase's order id for our working ``cid`` (recent orders read if not known)."""
        oid = self.edits.order_id(cid) or self._by_cid.get(cid) or self._settle(cid)
        if oid is None:
            self._read_recent_orders()
            oid = self._by_cid.get(cid)
        return oid

    def replace_order(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> OrderAck:
        """A GTC limit order's new limit price, by Coinbase's edit (``POST /orders/edit``, the
        same size). The order keeps Coinbase's ``client_order_id``; ``new_client_order_id``
        is journaled before the edit leaves and names the order from then on (the old id reads
        CANCELED, replaced). Other orders, stop prices and partly filled orders raise
        NotImplementedError (cancel and send again); an order no longer working or an edit
        Coinbase refuses comes back REJECTED with the reason."""
        cid, new_cid = client_order_id, new_client_order_id
        if stop_price is not None or limit_price is None:
            raise NotImplementedError(
                f"Coinbase edits only a limit price (order {cid}): cancel it and send it again"
            )
        oid = None if self.edits.replaced(cid) else self._order_id(cid)
        order = self.api.get_order(oid) if oid is not None else None
        if oid is None or order is None or order.get("status") != "OPEN":
            state = "unknown to Coinbase" if order is None else str(order.get("status"))
            return OrderAck(
                cid, OrderStatus.REJECTED, message=f"order {cid} cannot be replaced: it is {state}"
            )
        self._remember(order)
        config = (order.get("order_configuration") or {}).get("limit_limit_gtc")
        if config is None:
            kind = ", ".join(order.get("order_configuration") or {}) or "unknown"
            raise NotImplementedError(
                f"Coinbase edits only GTC limit orders; {cid} is {kind}: cancel it and send it "
                "again"
            )
        if float(order.get("filled_size") or 0) > 0:
            raise NotImplementedError(
                f"Order {cid} is partly filled: its fills stay under {cid}, so it is not "
                "edited under a new id; cancel it and send the rest again"
            )
        product = self._product(self._symbol(str(order["product_id"])))
        edit = Edit(
            oid,
            str(order.get("client_order_id") or ""),
            product.price_text(limit_price),
            str(config["base_size"]),
        )
        if new_cid != cid:
            self.edits.intent(new_cid, cid, edit)
        try:
            reply = self.api.edit_order(oid, price=edit.price, size=edit.size)
        except Refused as exc:
            reply = {"success": False, "errors": [{"edit_failure_reason": str(exc)}]}
        except Transient as exc:  # it may have been edited: a lookup of new_cid settles it
            log.warning("Edit of order %s unanswered (%s); looked up later", cid, exc)
            return OrderAck(
                new_cid, OrderStatus.UNKNOWN, broker_order_id=oid, message=f"edit sent: {exc}"
            )
        if not reply.get("success"):
            reasons = [str(e.get("edit_failure_reason")) for e in reply.get("errors") or []]
            if new_cid != cid:
                self.edits.rejected(new_cid)
            reason = ", ".join(reasons) or "no reason given"
            log.warning("Coinbase did not edit order %s: %s", cid, reason)
            return OrderAck(
                cid,
                OrderStatus.REJECTED,
                broker_order_id=oid,
                message=f"Coinbase did not edit order {cid}: {reason}",
            )
        if new_cid != cid:
            self.edits.placed(new_cid)
        log.info("Order %s edited at Coinbase (%s): now %s at %s", cid, oid, new_cid, edit.price)
        with self._lock:
            self._dirty.add(oid)
        ack = self._fetch(oid)
        if ack is None:
            raise BrokerError(f"Coinbase lost order {cid} after editing it")
        return ack

    # -- fills ------------------------------------------------------------------------------
    def poll_fills(self) -> list[Fill]:
        now = time.monotonic()
        with self._lock:
            ids = set(self._dirty)
            self._dirty.clear()
            if now - self._last_poll >= self.reconcile_interval:
                ids |= self._active
                self._last_poll = now
        if not ids:
            return []
        try:
            wire = self.api.fills(order_ids=sorted(ids))
        except (Transient, Refused) as exc:
            log.warning("Coinbase fills could not be read (%s); asking again next poll", exc)
            with self._lock:
                self._dirty |= ids
            return []
        fills = self._fills(wire)
        new = [f for f in fills if f.execution_id not in self._seen]
        self._seen.update(f.execution_id for f in new)
        self._retire(ids, wire)
        return new

    def _retire(self, ids: Iterable[str], wire: list[dict[str, Any]]) -> None:
        """Stop polling orders whose fills are all in."""
        filled: dict[str, float] = {}
        for fill in wire:
            oid = str(fill["order_id"])
            filled[oid] = filled.get(oid, 0.0) + float(fill["size"])
        for oid in ids:
            order = self._orders.get(oid)
            if order is None or order.get("status") not in _FINAL:
                order = self.api.get_order(oid)
                if order is None:
                    continue
                self._remember(order)
            if order.get("status") in _FINAL and filled.get(oid, 0.0) >= float(
                order.get("filled_size") or 0
            ):
                with self._lock:
                    self._active.discard(oid)

    def _fills(self, wire: list[dict[str, Any]]) -> list[Fill]:
        """Coinbase fills as Fills, in time order, each with its order's cumulative quantity
        (counted over all of that order's fills: ``wire`` holds them all)."""
        ordered = sorted(
            wire, key=lambda f: (str(f.get("sequence_timestamp") or f["trade_time"]), f["trade_id"])
        )
        cums: dict[str, float] = {}
        out = []
        for fill in ordered:
            oid = str(fill["order_id"])
            order = self._orders.get(oid) or self.api.get_order(oid) or {}
            if order:
                self._remember(order)
            cid = self.edits.name(oid, str(order.get("client_order_id") or oid))
            leg = exit_leg(order, float(fill["price"]))
            name = f"{cid}/{leg}" if leg else cid
            cums[name] = cums.get(name, 0.0) + float(fill["size"])
            symbol = self._symbol(str(fill.get("product_id", "")))
            out.append(fill_from(fill, name, symbol, round(cums[name], 12)))
        return out

    def get_executions(self, since: datetime | None = None) -> list[Fill]:
        fills = self._fills(self.api.fills())
        return [f for f in fills if since is None or f.timestamp >= since]

    # -- the account ------------------------------------------------------------------------
    def _balances(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for account in self.api.accounts():
            currency = str(account.get("currency", ""))
            total = float((account.get("available_balance") or {}).get("value") or 0) + float(
                (account.get("hold") or {}).get("value") or 0
            )
            out[currency] = out.get(currency, 0.0) + total
        return out

    def _positions(self, balances: Mapping[str, float]) -> list[Position]:
        out = []
        for currency, qty in sorted(balances.items()):
            if currency == self.cash_currency or qty == 0:
                continue
            pid = f"{currency}-{self.cash_currency}"
            try:
                price = float(self.api.market_product(pid).get("price") or 0)
            except Refused:
                log.warning("Coinbase balance in %s has no %s product: not valued", currency, pid)
                continue
            except Transient:
                if pid not in self._prices:
                    raise
                price = self._prices[pid]
                log.warning("Coinbase price of %s unavailable: valued at its last, %s", pid, price)
            self._prices[pid] = price
            out.append(Position(self._symbol(pid), qty, price, price))
        return out

    def get_positions(self) -> list[Position]:
        return self._positions(self._balances())

    def get_account_info(self) -> AccountInfo:
        balances = self._balances()
        positions = self._positions(balances)
        cash = balances.get(self.cash_currency, 0.0)
        equity = cash + sum(p.market_value for p in positions)
        return AccountInfo(
            account_id="coinbase",
            cash=cash,
            equity=equity,
            buying_power=cash,
            currency=self.cash_currency,
            positions=tuple(positions),
            mode="live",
        )


class CoinbaseProBroker(CoinbaseBroker):
    """``coinbase-pro``: Coinbase Pro closed in 2023; its successor is Advanced Trade."""

    name: ClassVar[str] = "coinbase-pro"
    #: an old name: never picked by itself for its credentials (``stratequeue.brokers.choose``)
    alias_of: ClassVar[str] = "coinbase"
    _told: ClassVar[bool] = False

    def __init__(self, config: BrokerConfig) -> None:
        if not CoinbaseProBroker._told:
            CoinbaseProBroker._told = True
            log.warning(
                "Broker 'coinbase-pro': Coinbase Pro was replaced by Coinbase Advanced Trade; "
                "using the 'coinbase' broker (Advanced Trade API). Write --broker coinbase."
            )
        super().__init__(config)
