"""The Charles Schwab broker (``schwab``; ``tda`` is an alias): schwab-py's Trader API client.

Schwab takes no client order id. The plugin keeps the link in a journal (:mod:`.journal`),
written before each POST, and reads the order id from the ``Location`` answer. A POST is never
retried blindly: when its outcome is unknown (a timeout, a 429 or 5xx answer) the account's
orders entered since the intent are listed and matched on symbol, instruction, quantity, type
and prices: one match is adopted, none (the listing proving absence) is sent again, several
make the order UNKNOWN with a line naming them. Fills come from the orders endpoint (polling),
each execution once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from stratequeue.brokers.base import (
    BaseBroker,
    BrokerConfig,
    Capability,
    CredentialStatus,
    OrderAck,
)
from stratequeue.errors import BrokerError
from stratequeue.ledger.journal import Entry, Journal
from stratequeue.models import AccountInfo, BrokerOrder, Fill, OrderStatus, Position

from .config import SchwabSettings, home, read_settings
from .orders import (
    ack_of,
    executions_of,
    is_final,
    parts_of,
    price_text,
    signature_of_order,
    signature_of_spec,
    spec_of,
)
from .ratelimit import OrderRateLimit
from .redact import TokenMask, mask_schwab_logs, unmask
from .session import open_client
from .stream import ActivityTrigger
from .token import check_age, read_token, relogin

__all__ = ["SchwabBroker", "TdaBroker"]

log = logging.getLogger(__name__)

#: answers after which the order may or may not be at Schwab
_UNSURE = {429, 500, 502, 503, 504}
#: how far before the intent's clock a listing starts (clock skew between us and Schwab)
_SKEW = timedelta(seconds=5)
_LOOKBACK = timedelta(days=59)


class SchwabBroker(BaseBroker):
    name: ClassVar[str] = "schwab"
    display_name: ClassVar[str] = "Charles Schwab"
    features: ClassVar[Mapping[str, str]] = {
        "asset classes": "US stocks and ETFs (whole shares)",
        "orders": "market, limit, stop, stop-limit; brackets (first-triggers-OCO), OCO; replace",
        "paper": "none at Schwab: --paper uses the local paper broker on Schwab's bars",
    }
    paper_account: ClassVar[bool] = False
    data_source: ClassVar[str | None] = "schwab"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.MARKET,
            Capability.LIMIT,
            Capability.STOP,
            Capability.STOP_LIMIT,
            Capability.BRACKET,
            Capability.OCO,
            Capability.REPLACE,
            Capability.PARTIAL_FILLS,
            Capability.EXECUTIONS,
            Capability.NETWORK,
        }
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        params = config.additional_params
        self.timeout = float(params.get("timeout", 10.0))
        self.send_attempts = int(params.get("send_attempts", 3))
        self.retry_backoff = float(params.get("retry_backoff", 1.0))
        #: seconds to let Schwab list an order before deciding it is absent
        self.confirm_wait = float(params.get("confirm_wait", 1.0))
        self.limit = OrderRateLimit(int(params.get("order_rate_limit", 120)))
        #: seconds between two order listings for fills (Schwab publishes no GET quota)
        self.poll_interval = float(params.get("poll_interval", 2.0))
        #: the ACCT_ACTIVITY stream triggers polls (option ``stream``: False to poll only)
        self.use_stream = bool(params.get("stream", True))
        self.stream_retry = float(params.get("stream_retry", 5.0))
        self.stream: ActivityTrigger | None = None
        self._mask: TokenMask | None = None
        self._polled_at = float("-inf")
        self._journal_path = params.get("journal")
        self.settings: SchwabSettings | None = None
        self.journal: Journal | None = None
        self.client: Any = None
        self.account_hash = ""
        self.account_number = ""
        self._delivered: set[str] = set()
        self._lock = threading.RLock()

    # -- credentials ------------------------------------------------------------------------
    @classmethod
    def credential_status(cls, env: Mapping[str, str]) -> CredentialStatus:
        try:
            settings = read_settings(env, quiet=True)
        except BrokerError:
            return CredentialStatus(paper=False, live=False, detail="SCHWAB_BASE_URL is invalid")
        ready = settings.complete
        detail = "" if ready else "needs SCHWAB_APP_KEY, SCHWAB_APP_SECRET and a token file"
        return CredentialStatus(paper=False, live=ready, detail=detail)

    @classmethod
    def interactive_setup(
        cls, env: Mapping[str, str], ask: Callable[[str], str], say: Callable[[str], None]
    ) -> bool:
        """``--broker-setup schwab``: the login (paste back the address the browser ends on)."""
        from .setup import login

        login(read_settings(env), ask=ask, say=say)
        return True

    @classmethod
    def setup_instructions(cls) -> str:
        return (
            "Charles Schwab (TD Ameritrade accounts moved there in 2024; TDA tokens do not work):\n"
            "  1. Register an app at https://developer.schwab.com with the callback URL "
            "https://127.0.0.1:8182 and wait for its approval.\n"
            "  2. export SCHWAB_APP_KEY=... SCHWAB_APP_SECRET=... "
            "SCHWAB_ACCOUNT=<account number>\n"
            "  3. Log in: python -m stratequeue_schwab.setup (no local browser needed: open the "
            "address it prints anywhere, paste back the address you end on). It writes "
            "SCHWAB_TOKEN_PATH (default ~/.stratequeue/schwab-token.json, owner only).\n"
            "  4. Repeat step 3 every 7 days: Schwab's login expires then; runs warn from day 6.\n"
            "Schwab has no paper trading: --paper trades on the local paper broker with Schwab's\n"
            "bars; --live trades the account (after a confirmation)."
        )

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> bool:
        if self.config.paper_trading:
            raise BrokerError(
                "Schwab has no paper trading: without --live, drop --broker schwab to paper "
                "trade on the local paper broker; add --live to trade the Schwab account."
            )
        env = self.config.credentials
        settings = read_settings(env)
        if not (settings.app_key and settings.app_secret):
            raise BrokerError(
                "Schwab needs SCHWAB_APP_KEY and SCHWAB_APP_SECRET. "
                "See: stratequeue --broker-setup schwab"
            )
        token_file = read_token(settings.token_path)
        check_age(token_file)
        self.settings = settings
        self.client = open_client(settings, token_file, self.timeout)
        self._mask = mask_schwab_logs(self._tokens)
        numbers = self._read("account numbers", self.client.get_account_numbers)
        self.account_number, self.account_hash = _pick_account(numbers, settings.account)
        path = self._journal_path or home(env) / f"schwab-orders-{self.account_number}.sqlite"
        self.journal = Journal(path)
        if self.use_stream:
            self.stream = ActivityTrigger(self.client, self._activity, self.stream_retry)
            self.stream.start()
        return True

    def _tokens(self) -> list[str]:
        client = self.client
        token = client.token_metadata.token if client is not None else {}
        keys = ("access_token", "refresh_token", "id_token")
        secret = self.settings.app_secret if self.settings else ""
        return [str(token[k]) for k in keys if token.get(k)] + [secret]

    def _activity(self) -> None:
        """Account activity was streamed: the next poll lists the orders at once."""
        self._polled_at = float("-inf")

    def disconnect(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream = None
        if self._mask is not None:
            unmask(self._mask)
            self._mask = None
        if self.client is not None:
            self.client.session.close()
            self.client = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def _require(self) -> tuple[Any, Journal]:
        if self.client is None or self.journal is None:
            raise BrokerError("the Schwab broker is not connected: call connect() first")
        return self.client, self.journal

    def _read(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """A GET, retried on 429/5xx and dropped connections; its JSON answer."""
        for attempt in range(self.send_attempts):
            try:
                resp = call(*args, **kwargs)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}"
            except Exception as exc:  # authlib's OAuthError: the refresh was refused
                if _is_login_error(exc):
                    raise relogin("was refused by Schwab") from None
                raise
            else:
                if resp.status_code == 401:
                    raise relogin("was refused by Schwab (401)")
                if resp.status_code not in _UNSURE:
                    if resp.is_error:
                        raise BrokerError(f"Schwab {what}: {resp.status_code} {_message(resp)}")
                    return resp.json()
                failure = f"HTTP {resp.status_code}"
            if attempt + 1 < self.send_attempts:
                time.sleep(self.retry_backoff * (attempt + 1))
        raise BrokerError(f"Schwab {what}: {failure} after {self.send_attempts} attempts")

    # -- the account ------------------------------------------------------------------------
    def _account(self) -> dict[str, Any]:
        client, _ = self._require()
        return self._read(
            "account",
            client.get_account,
            self.account_hash,
            fields=[client.Account.Fields.POSITIONS],
        )

    def get_account_info(self) -> AccountInfo:
        data = self._account()
        account = data["securitiesAccount"]
        balances = account.get("currentBalances") or {}
        positions = tuple(_positions(account))
        cash = float(balances.get("cashBalance", 0.0))
        return AccountInfo(
            account_id=self.account_number,
            cash=cash,
            equity=float(balances.get("liquidationValue", cash)),
            buying_power=float(balances.get("buyingPower", cash)),
            positions=positions,
            mode="paper" if self.config.paper_trading else "live",
        )

    def get_positions(self) -> list[Position]:
        return _positions(self._account()["securitiesAccount"])

    # -- orders -----------------------------------------------------------------------------
    def submit_order(self, order: BrokerOrder) -> OrderAck:
        _, journal = self._require()
        with self._lock:
            known = journal.get(order.client_order_id)
            if known is not None:
                ack = self._known(known)
                if ack is not None:
                    return ack
            try:
                spec = spec_of(order)
            except BrokerError as exc:
                return OrderAck(order.client_order_id, OrderStatus.REJECTED, message=str(exc))
            return self._send(order.client_order_id, spec, None)

    def _send(self, cid: str, spec: dict[str, Any], replaces: tuple[str, str] | None) -> OrderAck:
        """POST (or PUT for a replace) once per attempt; an unsure answer is resolved by
        listing before anything is sent again."""
        client, journal = self._require()
        signature = signature_of_spec(spec)
        journal.intent(cid, signature, _now(), replaces[0] if replaces else None)
        failure = ""
        for attempt in range(self.send_attempts):
            if attempt:
                time.sleep(self.retry_backoff * attempt)
            self.limit.wait()
            try:
                if replaces is None:
                    resp = client.place_order(self.account_hash, spec)
                else:
                    resp = client.replace_order(self.account_hash, replaces[1], spec)
            except httpx.TransportError as exc:
                failure = type(exc).__name__
            except Exception as exc:
                if _is_login_error(exc):
                    raise relogin("was refused by Schwab") from None
                raise
            else:
                if resp.status_code in (200, 201):
                    order_id = _location_id(resp)
                    if order_id:
                        ack = self._placed_ack(cid, order_id, signature)
                        if ack is not None:
                            return ack
                        failure = f"Location named order {order_id}, which is another order"
                        log.warning("Schwab: %s for %s; looking it up", failure, cid)
                    else:
                        failure = "no order id in the answer"
                elif resp.status_code == 401:
                    raise relogin("was refused by Schwab (401)")
                elif resp.status_code not in _UNSURE:
                    journal.rejected(cid)
                    return OrderAck(cid, OrderStatus.REJECTED, message=_message(resp))
                else:
                    failure = f"HTTP {resp.status_code}"
            entry = journal.get(cid)
            assert entry is not None
            found = self._resolve(entry)
            if found is not None:
                return found
        return OrderAck(cid, OrderStatus.UNKNOWN, message=f"Schwab: {failure}; not sent again")

    def _resolve(self, entry: Entry) -> OrderAck | None:
        """Find ``entry`` among the orders entered since its intent: the ack of the one match
        (adopted), an UNKNOWN ack when the listing fails or several match, None when the
        listing proves it absent."""
        _, journal = self._require()
        if self.confirm_wait:
            time.sleep(self.confirm_wait)
        try:
            listed = self._orders_since(entry.sent_at - _SKEW)
        except BrokerError as exc:
            return OrderAck(entry.cid, OrderStatus.UNKNOWN, message=f"{exc}; not sent again")
        claimed = journal.by_order_id()
        matches = [
            o
            for o in listed
            if str(o["orderId"]) not in claimed and signature_of_order(o) == entry.signature
        ]
        if len(matches) == 1:
            order_id = str(matches[0]["orderId"])
            journal.placed(entry.cid, order_id)
            log.info("Schwab order %s adopted as %s (its answer was lost)", order_id, entry.cid)
            return ack_of(entry.cid, matches[0])
        if len(matches) > 1:
            ids = ", ".join(str(o["orderId"]) for o in matches)
            message = (
                f"{entry.cid}: several Schwab orders match it ({ids}); none adopted and "
                "nothing sent again: check them in the Schwab account"
            )
            log.error(message)
            return OrderAck(entry.cid, OrderStatus.UNKNOWN, message=message)
        return None

    def _known(self, entry: Entry) -> OrderAck | None:
        """The state of a journaled order; None when it never reached Schwab (and then
        ``submit_order`` sends it)."""
        if entry.order_id:
            return self._ack(entry.cid, entry.order_id)
        if entry.state == "rejected":
            return OrderAck(entry.cid, OrderStatus.REJECTED, message="refused by Schwab")
        return self._resolve(entry)

    def _placed_ack(self, cid: str, order_id: str, signature: str) -> OrderAck | None:
        """The state of the order Schwab just took, journaled; None when ``Location`` named an
        order that is not the one sent (then it is looked up). ACCEPTED when it cannot be read
        now."""
        client, journal = self._require()
        try:
            order = self._read("order", client.get_order, order_id, self.account_hash)
        except BrokerError as exc:
            journal.placed(cid, order_id)
            return OrderAck(cid, OrderStatus.ACCEPTED, order_id, message=str(exc))
        if signature_of_order(order) != signature:
            return None
        journal.placed(cid, order_id)
        return ack_of(cid, order)

    def _ack(self, cid: str, order_id: str) -> OrderAck:
        client, _ = self._require()
        return ack_of(cid, self._read("order", client.get_order, order_id, self.account_hash))

    def _orders_since(self, since: datetime) -> list[dict[str, Any]]:
        client, _ = self._require()
        start = max(since, _now() - _LOOKBACK)
        return list(
            self._read(
                "orders",
                client.get_orders_for_account,
                self.account_hash,
                from_entered_datetime=start,
                to_entered_datetime=_now() + timedelta(days=1),
            )
        )

    def _leg(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """A bracket's or OCO's leg ``<cid>/tp|sl``: (its Schwab order id, the leg)."""
        client, journal = self._require()
        base = name.split("/", 1)[0]
        entry = journal.get(base)
        if entry is None or not entry.order_id:
            return None
        top = self._read("order", client.get_order, entry.order_id, self.account_hash)
        for part, leaf in parts_of(base, top):
            if part == name:
                return str(leaf["orderId"]), leaf
        return None

    def cancel_order(self, client_order_id: str) -> OrderAck:
        client, journal = self._require()
        if "/" in client_order_id:
            leg = self._leg(client_order_id)
            order_id = leg[0] if leg else None
        else:
            entry = journal.get(client_order_id)
            order_id = entry.order_id if entry else None
        if not order_id:
            return OrderAck(client_order_id, OrderStatus.REJECTED, message="unknown order")
        self.limit.wait()
        resp = client.cancel_order(order_id, self.account_hash)
        ack = self.get_order(client_order_id)
        assert ack is not None
        if resp.is_error and ack.status.is_open:
            return OrderAck(
                client_order_id, ack.status, ack.broker_order_id, message=_message(resp)
            )
        return ack

    def replace_order(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> OrderAck:
        client, journal = self._require()
        if "/" in client_order_id:
            raise NotImplementedError("the Schwab plugin cannot replace a bracket's leg in place")
        entry = journal.get(client_order_id)
        if entry is None or not entry.order_id:
            return OrderAck(new_client_order_id, OrderStatus.REJECTED, message="unknown order")
        old = self._read("order", client.get_order, entry.order_id, self.account_hash)
        if old.get("orderStrategyType") != "SINGLE":
            raise NotImplementedError("the Schwab plugin replaces single orders only")
        spec = {k: old[k] for k in ("orderType", "session", "duration", "orderStrategyType")}
        leg = old["orderLegCollection"][0]
        spec["orderLegCollection"] = [
            {
                "instruction": leg["instruction"],
                "quantity": int(float(old.get("remainingQuantity") or leg["quantity"])),
                "instrument": {"symbol": leg["instrument"]["symbol"], "assetType": "EQUITY"},
            }
        ]
        for key, value in (("price", limit_price), ("stopPrice", stop_price)):
            if value is not None:
                spec[key] = price_text(value)
            elif old.get(key) is not None:
                spec[key] = price_text(float(old[key]))
        return self._send(new_client_order_id, spec, (client_order_id, entry.order_id))

    def get_order(self, client_order_id: str) -> OrderAck | None:
        _, journal = self._require()
        if "/" in client_order_id:
            leg = self._leg(client_order_id)
            return ack_of(client_order_id, leg[1]) if leg else None
        entry = journal.get(client_order_id)
        if entry is None:
            return None
        return self._known(entry)

    def _journaled_orders(self, since: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
        _, journal = self._require()
        entries = journal.all()
        if not entries:
            return []
        start = since or min(e.sent_at for e in entries) - _SKEW
        names = journal.by_order_id()
        return [
            (names.get(str(o["orderId"]), f"schwab-{o['orderId']}"), o)
            for o in self._orders_since(start)
        ]

    def get_open_orders(self) -> list[OrderAck]:
        """Working orders, a bracket's legs by their names once they work."""
        acks = [
            ack_of(name, leaf)
            for cid, top in self._journaled_orders()
            for name, leaf in parts_of(cid, top)
            if leaf.get("status") != "AWAITING_PARENT_ORDER"
        ]
        return [a for a in acks if a.status.is_open]

    # -- executions -------------------------------------------------------------------------
    def get_executions(self, since: datetime | None = None) -> list[Fill]:
        fills = [f for cid, o in self._journaled_orders() for f in executions_of(cid, o)]
        if since is not None:
            fills = [f for f in fills if f.timestamp >= since]
        return sorted(fills, key=lambda f: (f.timestamp, f.execution_id))

    def poll_fills(self) -> list[Fill]:
        """New executions of the orders still to watch (one listing from the oldest of them);
        an order final at Schwab with its executions delivered is not listed again."""
        with self._lock:
            _, journal = self._require()
            if time.monotonic() - self._polled_at < self.poll_interval:
                return []
            self._polled_at = time.monotonic()
            since = journal.open_since()
            if since is None:
                return []
            names = journal.by_order_id()
            new: list[Fill] = []
            finished: list[str] = []
            for top in self._orders_since(since - _SKEW):
                cid = names.get(str(top["orderId"]))
                if cid is None:
                    continue
                fills = executions_of(cid, top)
                new.extend(f for f in fills if f.execution_id not in self._delivered)
                if is_final(top):
                    finished.append(cid)
            new.sort(key=lambda f: (f.timestamp, f.execution_id))
            self._delivered.update(f.execution_id for f in new)
            journal.finished(finished)
            return new


class TdaBroker(SchwabBroker):
    """``--broker tda``: TD Ameritrade is Charles Schwab now; the same broker, said once."""

    name: ClassVar[str] = "tda"
    display_name: ClassVar[str] = "TD Ameritrade (now Charles Schwab)"
    alias_of: ClassVar[str] = "schwab"
    _said: ClassVar[bool] = False

    def connect(self) -> bool:
        if not TdaBroker._said:
            TdaBroker._said = True
            log.warning(
                "TD Ameritrade is now Charles Schwab: '--broker tda' uses the Schwab broker."
            )
        return super().connect()


def _now() -> datetime:
    return datetime.now(UTC)


def _pick_account(numbers: list[dict[str, str]], wanted: str) -> tuple[str, str]:
    accounts = {a["accountNumber"]: a["hashValue"] for a in numbers}
    if wanted:
        if wanted not in accounts:
            last = ", ".join(f"...{n[-4:]}" for n in accounts) or "none"
            raise BrokerError(
                f"SCHWAB_ACCOUNT ...{wanted[-4:]} is not an account of this login "
                f"(it has: {last}). Fix SCHWAB_ACCOUNT or log in with its owner."
            )
        return wanted, accounts[wanted]
    if len(accounts) != 1:
        raise BrokerError(
            f"This Schwab login has {len(accounts)} accounts: set SCHWAB_ACCOUNT to one number."
        )
    return next(iter(accounts.items()))


def _positions(account: dict[str, Any]) -> list[Position]:
    out = []
    for p in account.get("positions") or []:
        qty = float(p.get("longQuantity", 0.0)) - float(p.get("shortQuantity", 0.0))
        if qty == 0:
            continue
        market = float(p["marketValue"]) / qty if p.get("marketValue") is not None else None
        out.append(Position(p["instrument"]["symbol"], qty, float(p["averagePrice"]), market))
    return out


def _location_id(resp: Any) -> str:
    location = resp.headers.get("Location", "")
    tail = location.rstrip("/").rsplit("/orders/", 1)
    return tail[1] if len(tail) == 2 and tail[1].isdigit() else ""


def _message(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        errors = body.get("errors")
        detail = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
        message = str(body.get("message") or body.get("error_description") or "")
        return "; ".join(x for x in (message, detail) if x) or f"HTTP {resp.status_code}"
    return f"HTTP {resp.status_code}"


def _is_login_error(exc: Exception) -> bool:
    return type(exc).__name__ in ("OAuthError", "InvalidTokenError", "MissingTokenError") or (
        "invalid_client" in str(exc) or "refresh_token" in str(exc)
    )
