"""A small Advanced Trade client: request tokens (ES256 or Ed25519 JWTs), REST over httpx, and
the two WebSocket feeds over ``websockets``.

Not the official SDK ``coinbase-advanced-py``: it pins ``websockets<14`` and the Polygon client
needs ``>=14``, so both cannot be installed together. The official SDK runs against the fake in
its own environment to prove the fake speaks what Coinbase speaks.

HTTP 429 and 5xx answers, timeouts and dropped connections are :class:`Transient`: reads are
retried here; a POST that creates an order is retried by the broker, which first looks the
order up by its client order id (see ``broker.py``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from stratequeue.data.live import Backoff
from stratequeue.errors import BrokerError

from .config import CoinbaseSettings

__all__ = [
    "API",
    "CoinbaseClient",
    "Feed",
    "Refused",
    "Transient",
    "load_private_key",
    "request_token",
    "tls_context",
]

log = logging.getLogger(__name__)

API = "/api/v3/brokerage"
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class Transient(BrokerError):
    """A failure that may pass: 429, 5xx, a timeout, a dropped connection."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Refused(BrokerError):
    """A 4xx answer: the request itself is wrong (key, permission, product)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


# -- request tokens -------------------------------------------------------------------------
def load_private_key(secret: str) -> PrivateKey:
    """The CDP key's private key: an EC P-256 PEM (ES256), an Ed25519 PEM, or the base64 of
    an Ed25519 seed + public key as the CDP portal gives it. Errors never quote the secret."""
    text = secret.strip()
    try:
        if "PRIVATE KEY" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = base64.b64decode(text, validate=True)
            key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    except (ValueError, TypeError) as exc:
        raise BrokerError(
            "COINBASE_API_SECRET could not be read as a private key (an EC or Ed25519 PEM with "
            f"newlines written as \\n, or a base64 Ed25519 key): {type(exc).__name__}. "
            "See: stratequeue --broker-setup coinbase"
        ) from None
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise BrokerError(
        f"COINBASE_API_SECRET holds a {type(key).__name__}; a CDP key is EC P-256 or Ed25519."
    )


def request_token(api_key: str, key: PrivateKey, uri: str | None = None) -> str:
    """A JWT for one REST request (``uri`` = "METHOD host/path") or a WebSocket subscribe
    (no ``uri``), valid 120 s."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": api_key, "iss": "cdp", "nbf": now, "exp": now + 120}
    if uri is not None:
        claims["uri"] = uri
    algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "EdDSA"
    headers = {"kid": api_key, "nonce": secrets.token_hex(16)}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates to trust: only ``ca_file`` when given (a fake's own certificate; the
    environment's REQUESTS_CA_BUNDLE / SSL_CERT_FILE then play no part), else the system's."""
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return ssl.create_default_context()


# -- REST -----------------------------------------------------------------------------------
class CoinbaseClient:
    """Advanced Trade REST. Every private request carries a fresh request token."""

    def __init__(
        self,
        settings: CoinbaseSettings,
        *,
        ca_file: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self._key = load_private_key(settings.api_secret) if settings.api_secret else None
        self.tls = tls_context(ca_file)
        self.retries = retries
        self.backoff = backoff or Backoff(0.5, 8.0)
        self._http = httpx.Client(
            base_url=settings.rest_root, verify=self.tls, timeout=timeout, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def token(self, uri: str | None = None) -> str:
        if self._key is None:
            raise BrokerError(
                "COINBASE_API_KEY / COINBASE_API_SECRET not set: private Coinbase requests "
                "need a CDP key. See: stratequeue --broker-setup coinbase"
            )
        return request_token(self.settings.api_key, self._key, uri)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        private: bool = True,
    ) -> dict[str, Any]:
        """One request, once. Raises :class:`Transient` or :class:`Refused`."""
        headers = {"Content-Type": "application/json"}
        if private:
            headers["Authorization"] = "Bearer " + self.token(
                f"{method} {self.settings.host}{path}"
            )
        try:
            reply = self._http.request(
                method,
                path,
                params=params,
                content=json.dumps(body) if body is not None else None,
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise Transient(f"{method} {path}: {type(exc).__name__} {exc}".rstrip()) from None
        if reply.status_code == 429 or reply.status_code >= 500:
            raise Transient(f"{method} {path}: HTTP {reply.status_code}", status=reply.status_code)
        if reply.status_code >= 400:
            raise Refused(_refusal(method, path, reply), status=reply.status_code)
        data = reply.json()
        if not isinstance(data, dict):
            raise Transient(f"{method} {path}: the answer is not a JSON object")
        return data

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """:meth:`send`, tried again after transient failures (for reads and for calls that
        are safe to repeat)."""
        for attempt in range(self.retries + 1):
            try:
                return self.send(method, path, **kwargs)
            except Transient as exc:
                if attempt == self.retries:
                    raise
                wait = self.backoff.delay(attempt)
                log.warning("Coinbase %s; trying again in %.2fs", exc, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _pages(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        query = dict(params)
        while True:
            page = self.call("GET", path, params=query)
            yield from page.get(key, [])
            cursor = page.get("cursor") or ""
            if not cursor or page.get("has_next") is False:
                return
            query["cursor"] = cursor

    # -- endpoints --------------------------------------------------------------------------
    def accounts(self) -> list[dict[str, Any]]:
        return list(self._pages(f"{API}/accounts", "accounts", {"limit": 250}))

    def key_permissions(self) -> dict[str, Any]:
        return self.call("GET", f"{API}/key_permissions")

    def product(self, product_id: str) -> dict[str, Any]:
        return self.call("GET", f"{API}/products/{product_id}")

    def market_product(self, product_id: str) -> dict[str, Any]:
        """The public view of a product (its last price), no key."""
        return self.call("GET", f"{API}/market/products/{product_id}", private=False)

    def create_order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST once: the broker decides whether a failure may be sent again."""
        return self.send("POST", f"{API}/orders", body=body)

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        try:
            return self.call("GET", f"{API}/orders/historical/{order_id}").get("order")
        except Refused as exc:
            if exc.status == 404:
                return None
            raise

    def list_orders(self, **params: Any) -> list[dict[str, Any]]:
        query = {"limit": 250, **params}
        return list(self._pages(f"{API}/orders/historical/batch", "orders", query))

    def cancel_orders(self, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        reply = self.call("POST", f"{API}/orders/batch_cancel", body={"order_ids": list(order_ids)})
        return list(reply.get("results", []))

    def edit_order(self, order_id: str, *, price: str, size: str) -> dict[str, Any]:
        body = {"order_id": order_id, "price": price, "size": size}
        return self.call("POST", f"{API}/orders/edit", body=body)

    def fills(self, **params: Any) -> list[dict[str, Any]]:
        query = {"limit": 250, **params}
        return list(self._pages(f"{API}/orders/historical/fills", "fills", query))

    def candles(
        self, product_id: str, start: int, end: int, granularity: str
    ) -> list[dict[str, Any]]:
        """Public candles (no key), newest first as Coinbase sends them."""
        params = {"start": str(start), "end": str(end), "granularity": granularity}
        path = f"{API}/market/products/{product_id}/candles"
        return list(self.call("GET", path, params=params, private=False).get("candles", []))


def _refusal(method: str, path: str, reply: httpx.Response) -> str:
    try:
        data = reply.json()
    except ValueError:
        data = {}
    reason = data.get("message") or data.get("error") if isinstance(data, dict) else None
    hint = ""
    if reply.status_code == 401:
        hint = (
            " (check COINBASE_API_KEY is the full key name and COINBASE_API_SECRET its PEM "
            "with \\n newlines, and that this machine's clock is right)"
        )
    elif reply.status_code == 403:
        hint = " (the key lacks a permission: give it View and Trade)"
    return f"Coinbase {method} {path}: HTTP {reply.status_code} {reason or ''}{hint}".rstrip()


# -- WebSocket feeds ------------------------------------------------------------------------
class Feed:
    """One Advanced Trade WebSocket in a background thread: subscribes ``channels`` (with a
    token when ``token`` is given), passes each message to ``on_message``, and reconnects with
    backoff until :meth:`stop`. ``on_connect`` runs after each (re)subscribe, so a caller can
    look up what it may have missed while disconnected."""

    def __init__(
        self,
        url: str,
        channels: Sequence[str],
        product_ids: Sequence[str],
        on_message: Callable[[dict[str, Any]], None],
        *,
        token: Callable[[], str] | None = None,
        tls: ssl.SSLContext | None = None,
        on_connect: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
        name: str = "coinbase-feed",
    ) -> None:
        self.url = url
        self.channels = list(channels)
        self.product_ids = list(product_ids)
        self.on_message = on_message
        self.on_connect = on_connect
        self._token = token
        self._tls = tls if url.startswith("wss://") else None
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.connected = threading.Event()
        self.connections = 0
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(lambda: None)
            self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        attempt = 0
        while not self._stop.is_set():
            try:
                async with connect(self.url, ssl=self._tls, open_timeout=5) as ws:
                    for channel in self.channels:
                        message: dict[str, Any] = {
                            "type": "subscribe",
                            "channel": channel,
                            "product_ids": self.product_ids,
                        }
                        if self._token is not None:
                            message["jwt"] = self._token()
                        await ws.send(json.dumps(message))
                    self.connections += 1
                    self.connected.set()
                    attempt = 0
                    if self.on_connect is not None:
                        await asyncio.to_thread(self.on_connect)
                    while not self._stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.2)
                        except TimeoutError:
                            continue
                        self._dispatch(raw)
            except (OSError, WebSocketException, TimeoutError) as exc:
                self.connected.clear()
                if self._stop.is_set():
                    return
                wait = self.backoff.delay(attempt)
                attempt += 1
                log.warning(
                    "Coinbase feed %s dropped (%s); reconnecting in %.2fs",
                    self.url,
                    type(exc).__name__,
                    wait,
                )
                await asyncio.sleep(wait)
        self.connected.clear()

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("Coinbase feed %s sent a message that is not JSON", self.url)
            return
        if isinstance(message, dict):
            try:
                self.on_message(message)
            except Exception:  # a bad message must not end the feed
                log.exception("Coinbase feed %s: a message could not be handled", self.url)
