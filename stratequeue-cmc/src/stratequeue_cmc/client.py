"""CoinMarketCap's REST API over httpx: every answer's ``status.error_code`` is checked,
the 200s included; rate limits (HTTP 429, error 1008 / 1011) are waited out (``Retry-After``
when sent, else ``rate_limit_wait``) and retried with the core toolkit's :class:`Retry`.
Other transient failures (network, 5xx) are raised at once: the next poll is the retry.

``httpx`` is imported when a client is built, not when this module is: the plugin is loaded
by every ``stratequeue`` command, ``--help`` included."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stratequeue.data.live import Retry, TransientError, parse_retry_after
from stratequeue.errors import DataSourceError

from .settings import CmcSettings

if TYPE_CHECKING:
    import httpx

__all__ = ["CmcClient", "PlanNotAuthorized"]

log = logging.getLogger(__name__)

KEY_CODES = {1001: "is invalid", 1002: "is missing", 1005: "is required", 1007: "is disabled"}
RATE_CODES = {1008, 1011}
PLAN_CODES = {
    1003: "the plan requires payment",
    1004: "the plan's payment has expired",
    1009: "the daily credit limit is used up",
    1010: "the monthly credit limit is used up",
}


class PlanNotAuthorized(Exception):
    """Error 1006: the key's plan does not include this endpoint."""


class CmcClient:
    def __init__(
        self,
        settings: CmcSettings,
        *,
        timeout: float = 10.0,
        rate_limit_wait: float = 60.0,
        max_retries: int = 5,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        import httpx

        self._http = httpx.Client(
            base_url=settings.base_url,
            timeout=timeout,
            headers={"X-CMC_PRO_API_KEY": settings.api_key, "Accept": "application/json"},
        )
        self.rate_limit_wait = rate_limit_wait
        # wait(seconds) -> True when the run was stopped meanwhile
        self._retry = Retry(
            attempts=max_retries + 1,
            transient=_rate_limited,
            wait=wait or (lambda seconds: False),
            max_wait=max(rate_limit_wait, 300.0),
            logger=log,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        """The ``data`` of a successful answer."""
        return self._retry.call(f"CoinMarketCap {path}", lambda: self._get_once(path, params))

    def _get_once(self, path: str, params: Mapping[str, Any]) -> Any:
        import httpx

        try:
            response = self._http.get(path, params=dict(params))
        except httpx.HTTPError as exc:
            raise TransientError(f"CoinMarketCap request {path} failed: {exc}") from None
        status = _status(response)
        code = int(status.get("error_code") or 0)
        message = str(status.get("error_message") or "").strip()
        if response.status_code == 429 or code in RATE_CODES:
            asked = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError(
                f"rate limit: HTTP {response.status_code}, error {code or '-'}: "
                f"{message or 'too many requests'}",
                retry_after=self.rate_limit_wait if asked is None else asked,
            )
        if code in KEY_CODES or response.status_code == 401:
            what = KEY_CODES.get(code, "was refused")
            raise DataSourceError(
                f"CoinMarketCap says the API key {what} (error {code}: {message}). "
                "Set CMC_API_KEY to a valid key from https://pro.coinmarketcap.com/account "
                "(help: stratequeue --data-setup coinmarketcap)"
            )
        if code == 1006:
            raise PlanNotAuthorized(message or "the plan does not support this endpoint")
        if code in PLAN_CODES:
            raise DataSourceError(
                f"CoinMarketCap refused the request: {PLAN_CODES[code]} (error {code}: "
                f"{message}). See https://pro.coinmarketcap.com/account/plan"
            )
        if response.status_code >= 500:
            raise TransientError(
                f"CoinMarketCap server error HTTP {response.status_code} on {path}"
            )
        if code != 0 or response.status_code != 200:
            raise DataSourceError(
                f"CoinMarketCap refused {path} (HTTP {response.status_code}, error {code}: "
                f"{message or 'no message'})"
            )
        return response.json().get("data")


def _rate_limited(exc: BaseException) -> bool:
    """Only rate limits are retried here: they say how long to wait."""
    return isinstance(exc, TransientError) and exc.retry_after is not None


def _status(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, dict) else {}
