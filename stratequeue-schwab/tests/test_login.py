"""The weekly Schwab login: a refresh token older than 7 days, or refused, stops a run before any
order with one line telling the user to log in again; day 6 warns. Refreshes keep the token file
0600 and its creation time."""

from __future__ import annotations

import json
import logging
import stat

import pytest
from stratequeue.brokers.base import BrokerConfig
from stratequeue.errors import BrokerError
from stratequeue_schwab import SchwabBroker
from stratequeue_schwab.testing import FakeSchwab


def _broker(fake: FakeSchwab, tmp_path) -> SchwabBroker:
    env = {**fake.env(tmp_path / "token.json"), "STRATEQUEUE_HOME": str(tmp_path)}
    return SchwabBroker(BrokerConfig("schwab", paper_trading=False, credentials=env))


def test_a_login_older_than_seven_days_stops_before_any_request(fake, tmp_path) -> None:
    fake.write_token_file(tmp_path / "token.json", age_days=7.01)
    with pytest.raises(BrokerError, match=r"--broker-setup schwab") as err:
        _broker(fake, tmp_path).connect()
    assert "7.0 days old" in str(err.value) and "\n" not in str(err.value)
    assert fake.requests == []


def test_a_login_of_day_six_warns_and_connects(fake, tmp_path, caplog) -> None:
    fake.write_token_file(tmp_path / "token.json", age_days=6.2)
    with caplog.at_level(logging.WARNING, logger="stratequeue_schwab"):
        broker = _broker(fake, tmp_path)
        assert broker.connect()
    broker.disconnect()
    warned = [r.getMessage() for r in caplog.records if "6.2 days old" in r.getMessage()]
    assert len(warned) == 1 and "--broker-setup schwab" in warned[0]


def test_a_refused_refresh_token_stops_before_any_order(fake, tmp_path) -> None:
    fake.write_token_file(tmp_path / "token.json", access_expired=True)
    fake.expire_refresh()  # Schwab refuses it (e.g. a password change, or sooner than 7 days)
    with pytest.raises(BrokerError, match=r"refused by Schwab.*--broker-setup schwab"):
        _broker(fake, tmp_path).connect()
    assert fake.requests == ["POST /v1/oauth/token"]
    assert fake.order_posts == []


def test_a_refresh_keeps_the_token_file_private_and_its_login_time(fake, tmp_path) -> None:
    path = tmp_path / "token.json"
    before = fake.write_token_file(path, age_days=1, access_expired=True)
    broker = _broker(fake, tmp_path)
    assert broker.connect()
    broker.disconnect()
    assert fake.requests[0] == "POST /v1/oauth/token"
    after = json.loads(path.read_text())
    assert after["creation_timestamp"] == before["creation_timestamp"]
    assert after["token"]["access_token"] != before["token"]["access_token"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_token_file_says_how_to_log_in(fake, tmp_path) -> None:
    with pytest.raises(BrokerError, match=r"token file .* not found.*--broker-setup schwab"):
        _broker(fake, tmp_path).connect()
