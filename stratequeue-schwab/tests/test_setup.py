"""The login flow (python -m stratequeue_schwab.setup) against the fake: the person opens the
printed address, pastes where the browser ended; the token file is written 0600 and checked
against the account list; no token is shown."""

from __future__ import annotations

import json
import stat
import time
from urllib.parse import urlsplit

import httpx
import pytest
from stratequeue.errors import BrokerError
from stratequeue_schwab.config import read_settings
from stratequeue_schwab.setup import login
from stratequeue_schwab.testing import FakeSchwab


class Person:
    """Opens the printed address (at the fake) and pastes the address the browser ends on."""

    def __init__(self, fake: FakeSchwab, tamper: str = "") -> None:
        self.fake = fake
        self.tamper = tamper
        self.said: list[str] = []

    def say(self, line: str) -> None:
        self.said.append(line)

    def ask(self, prompt: str) -> str:
        url = next(line.strip() for line in self.said if "oauth/authorize" in line)
        parts = urlsplit(url)
        assert parts.netloc == "api.schwabapi.com"
        at_fake = f"{self.fake.base_url}{parts.path}?{parts.query}"
        answer = httpx.get(at_fake, follow_redirects=False)
        assert answer.status_code == 302
        return answer.headers["Location"] + self.tamper


def test_the_login_writes_a_private_token_file_that_works(fake: FakeSchwab, tmp_path) -> None:
    path = tmp_path / "home" / "schwab-token.json"
    settings = read_settings(
        {**fake.env(path), "SCHWAB_TOKEN_PATH": ""} | {"STRATEQUEUE_HOME": str(tmp_path / "home")}
    )
    assert settings.token_path == path
    person = Person(fake)
    assert login(settings, person.ask, person.say) == [fake.exchange.account_number]
    data = json.loads(path.read_text())
    assert abs(data["creation_timestamp"] - time.time()) < 60
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fake.requests[-1] == "GET /trader/v1/accounts/accountNumbers"
    shown = "\n".join(person.said)
    for value in (data["token"]["access_token"], data["token"]["refresh_token"], fake.app_secret):
        assert value not in shown
    assert "...5678" in person.said[-1] and "7 days" in person.said[-1]


def test_a_pasted_address_with_another_state_is_refused(fake: FakeSchwab, tmp_path) -> None:
    settings = read_settings(fake.env(tmp_path / "t.json"))
    person = Person(fake, tamper="x")  # the state no longer matches the one sent
    with pytest.raises(BrokerError, match="Schwab refused the login"):
        login(settings, person.ask, person.say)
    assert not (tmp_path / "t.json").exists()


def test_a_login_without_the_configured_account_says_so(fake: FakeSchwab, tmp_path) -> None:
    settings = read_settings(fake.env(tmp_path / "t.json", account="11110000"))
    person = Person(fake)
    with pytest.raises(BrokerError, match=r"\.\.\.0000 is not an account of this login"):
        login(settings, person.ask, person.say)
