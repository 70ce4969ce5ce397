"""The Toy Exchange's wire: JSON over HTTP, the key in the ``X-Api-Key`` header.

Standard library only. A 429 or 5xx answer, a timeout or a refused connection raises
:class:`~stratequeue.data.live.TransientError` (the caller decides whether to retry); any
other 4xx raises :class:`ToyRefused` with the exchange's own message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from stratequeue.data.live import TransientError

__all__ = ["ToyClient", "ToyRefused"]


class ToyRefused(Exception):
    """The exchange answered 4xx (not 429): ``status`` and its ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class ToyClient:
    """Calls to one Toy Exchange at ``base_url`` (e.g. ``http://127.0.0.1:8765``)."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # never the key
        return f"<ToyClient {self.base_url}>"

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any
    ) -> Any:
        """The decoded JSON answer; None for 404.

        Raises:
            TransientError: 429, 5xx, a timeout or no connection: try again later.
            ToyRefused: any other 4xx, with the exchange's message.
        """
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("X-Api-Key", self._key)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                message = str(json.loads(text).get("error", text))
            except (ValueError, AttributeError):
                message = text
            if exc.code == 404 and method == "GET":
                return None
            if exc.code == 429 or exc.code >= 500:
                raise TransientError(f"Toy Exchange {path}: HTTP {exc.code} {message}") from None
            raise ToyRefused(exc.code, message) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"Toy Exchange {path}: {exc}") from None
