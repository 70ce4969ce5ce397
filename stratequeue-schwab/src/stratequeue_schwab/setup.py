"""The Schwab login, without a local browser: print the authorization URL, take the address the
browser ends on (pasted back), trade its code for tokens, write the token file (0600) and check
it against the account list. Run ``python -m stratequeue_schwab.setup``; again every 7 days.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from stratequeue.errors import BrokerError

from .config import SchwabSettings, read_settings
from .session import MovedTransport, open_client, quiet_authlib
from .token import write_token

__all__ = ["login", "main"]

_AUTHORIZE = "https://api.schwabapi.com/v1/oauth/authorize"


def login(
    settings: SchwabSettings,
    ask: Callable[[str], str],
    say: Callable[[str], None],
    timeout: float = 30.0,
) -> list[str]:
    """Walk one login; the account numbers it can trade. ``ask`` shows a prompt and returns
    what the person pasted; ``say`` shows a line. Tokens are never shown."""
    with quiet_authlib():
        from authlib.integrations.httpx_client import OAuth2Client
        from schwab.auth import TOKEN_ENDPOINT

    if not (settings.app_key and settings.app_secret):
        raise BrokerError(
            "Set SCHWAB_APP_KEY and SCHWAB_APP_SECRET (from your app at "
            "https://developer.schwab.com) before logging in."
        )
    oauth = OAuth2Client(
        settings.app_key,
        client_secret=settings.app_secret,
        redirect_uri=settings.callback_url,
        timeout=timeout,
        transport=MovedTransport(settings.base_url),
    )
    url, state = oauth.create_authorization_url(_AUTHORIZE)
    say("1. Open this address in any browser and log in to Schwab:")
    say(f"   {url}")
    say(
        f"2. The browser then goes to {settings.callback_url}/?code=... and may show an error "
        "page: that is expected. Copy that whole address."
    )
    received = ask("3. Paste the address here").strip()
    if not received.startswith(settings.callback_url):
        raise BrokerError(
            f"The pasted address does not start with SCHWAB_CALLBACK_URL "
            f"({settings.callback_url}): paste the address the browser ended on."
        )
    try:
        token: dict[str, Any] = dict(
            oauth.fetch_token(TOKEN_ENDPOINT, authorization_response=received, state=state)
        )
    except Exception as exc:  # authlib: a mismatched state, or the code refused
        raise BrokerError(
            f"Schwab refused the login ({type(exc).__name__}): log in again and paste the "
            "newest address (a code works once, for a short time)."
        ) from None
    finally:
        oauth.close()
    data = {"creation_timestamp": int(time.time()), "token": token}
    write_token(settings.token_path, data)
    client = open_client(settings, data, timeout)
    try:
        resp = client.get_account_numbers()
    finally:
        client.session.close()
    if resp.is_error:
        raise BrokerError(f"The new login cannot list its accounts (HTTP {resp.status_code}).")
    numbers = [a["accountNumber"] for a in resp.json()]
    if settings.account and settings.account not in numbers:
        raise BrokerError(
            f"SCHWAB_ACCOUNT ...{settings.account[-4:]} is not an account of this login "
            f"(it has: {', '.join('...' + n[-4:] for n in numbers)})."
        )
    say(
        f"Logged in: accounts {', '.join('...' + n[-4:] for n in numbers)}; token written to "
        f"{settings.token_path} (owner only). Schwab asks for this login again in 7 days."
    )
    return numbers


def main(env: Mapping[str, str] | None = None) -> int:
    import os

    import click

    try:
        login(
            read_settings(os.environ if env is None else env),
            ask=lambda prompt: str(click.prompt(prompt)),
            say=click.echo,
        )
    except BrokerError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
