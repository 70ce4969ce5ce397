"""A schwab-py ``Client`` on the base URL of the settings.

schwab-py writes ``https://api.schwabapi.com`` into every request and into its token endpoint;
an httpx transport moves each request to ``SCHWAB_BASE_URL`` (the real host by default, a fake
in tests). Token refreshes are written back to the token file (0600), keeping its creation time.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from .config import SchwabSettings
from .token import write_token

__all__ = ["MovedTransport", "open_client", "quiet_authlib"]

_SCHWAB_HOST = "api.schwabapi.com"


@contextlib.contextmanager
def quiet_authlib() -> Iterator[None]:
    """Authlib 1.9 warns on import that its httpx integration moves to httpx2: a note for
    schwab-py, not for the user. Its module puts an "always" filter first when imported, so it
    is imported before ours goes in front."""
    import authlib.deprecate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        yield


class MovedTransport(httpx.HTTPTransport):
    """Sends requests for api.schwabapi.com to another scheme/host/port."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        self._scheme = parts.scheme
        self._host = parts.hostname or _SCHWAB_HOST
        self._port = parts.port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == _SCHWAB_HOST:
            request.url = request.url.copy_with(
                scheme=self._scheme, host=self._host, port=self._port
            )
            request.headers["Host"] = request.url.netloc.decode()
        return super().handle_request(request)


def open_client(settings: SchwabSettings, token_file: dict[str, Any], timeout: float) -> Any:
    """A synchronous ``schwab.client.Client`` with the login in ``token_file``."""
    with quiet_authlib():
        from authlib.integrations.httpx_client import OAuth2Client
    from schwab.auth import TOKEN_ENDPOINT, TokenMetadata
    from schwab.client import Client

    path = settings.token_path
    metadata = TokenMetadata.from_loaded_token(
        token_file, lambda data, *a, **k: write_token(path, data)
    )
    session = OAuth2Client(
        settings.app_key,
        client_secret=settings.app_secret,
        token=metadata.token,
        token_endpoint=TOKEN_ENDPOINT,
        update_token=metadata.wrapped_token_write_func(),
        leeway=300,
        timeout=timeout,
        transport=MovedTransport(settings.base_url),
    )
    client = Client(settings.app_key, session, token_metadata=metadata)
    client.set_timeout(timeout)  # the constructor sets 30 s
    return client
