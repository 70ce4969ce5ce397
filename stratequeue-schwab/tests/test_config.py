"""Settings from the environment: defaults, the seed's TDA variables (each said once), the
token file's home, what --broker-status shows; the order rate limit; the plugin's names."""

from __future__ import annotations

import logging
import time

import pytest
from stratequeue import plugins
from stratequeue.brokers.base import BrokerConfig
from stratequeue.errors import BrokerError
from stratequeue_schwab import SchwabBroker, TdaBroker, config
from stratequeue_schwab.ratelimit import OrderRateLimit


@pytest.fixture(autouse=True)
def _fresh_lines(monkeypatch):
    monkeypatch.setattr(config, "_SAID", set())


def test_defaults_put_the_token_in_the_stratequeue_home(tmp_path) -> None:
    env = {
        "STRATEQUEUE_HOME": str(tmp_path),
        "SCHWAB_APP_KEY": "K3yV4l",
        "SCHWAB_APP_SECRET": "S3cr7t",
    }
    s = config.read_settings(env)
    assert s.token_path == tmp_path / "schwab-token.json"
    assert s.callback_url == "https://127.0.0.1:8182"
    assert s.base_url == "https://api.schwabapi.com"
    assert "K3yV4l" not in repr(s) and "S3cr7t" not in repr(s)


def test_tda_variables_stand_in_and_are_each_said_once(tmp_path, caplog) -> None:
    env = {
        "STRATEQUEUE_HOME": str(tmp_path),
        "TDA_CLIENT_ID": "tda-key",
        "TDA_ACCOUNT_ID": "87654321",
        "TDA_REFRESH_TOKEN": "tda-refresh-7Q2",
    }
    with caplog.at_level(logging.WARNING, logger="stratequeue_schwab"):
        first = config.read_settings(env)
        config.read_settings(env)
    assert (first.app_key, first.account) == ("tda-key", "87654321")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert any("--broker-setup schwab" in line and "TDA_REFRESH_TOKEN" in line for line in lines)
    assert all("tda-refresh-7Q2" not in line for line in lines)


def test_the_new_names_win_over_the_tda_ones(caplog) -> None:
    env = {
        "SCHWAB_APP_KEY": "new",
        "TDA_CLIENT_ID": "old",
        "SCHWAB_ACCOUNT": "1",
        "TDA_ACCOUNT_ID": "2",
    }
    with caplog.at_level(logging.WARNING, logger="stratequeue_schwab"):
        s = config.read_settings(env)
    assert (s.app_key, s.account) == ("new", "1")
    assert caplog.records == []


def test_broker_status_needs_key_secret_and_token_file_and_never_paper(tmp_path) -> None:
    env = {"SCHWAB_APP_KEY": "k", "SCHWAB_APP_SECRET": "s", "STRATEQUEUE_HOME": str(tmp_path)}
    assert SchwabBroker.credential_status(env).status == "Not Configured"
    (tmp_path / "schwab-token.json").write_text("{}")
    status = SchwabBroker.credential_status(env)
    assert (status.paper, status.live) == (False, True)


def test_a_paper_run_with_schwab_is_refused_before_any_request(fake, tmp_path) -> None:
    fake.write_token_file(tmp_path / "t.json")
    broker = SchwabBroker(
        BrokerConfig("schwab", paper_trading=True, credentials=fake.env(tmp_path / "t.json"))
    )
    with pytest.raises(BrokerError, match="Schwab has no paper trading"):
        broker.connect()
    assert fake.requests == []


def test_an_account_number_the_login_does_not_hold_is_refused_by_its_last_digits(
    fake, tmp_path
) -> None:
    fake.write_token_file(tmp_path / "t.json")
    env = fake.env(tmp_path / "t.json", account="99990000")
    broker = SchwabBroker(BrokerConfig("schwab", paper_trading=False, credentials=env))
    with pytest.raises(BrokerError, match=r"SCHWAB_ACCOUNT \.\.\.0000 .* \.\.\.5678") as err:
        broker.connect()
    assert "99990000" not in str(err.value)


def test_order_requests_wait_for_room_in_the_window() -> None:
    limit = OrderRateLimit(3, window=0.4)
    started = time.monotonic()
    for _ in range(3):
        limit.wait()
    assert time.monotonic() - started < 0.1
    limit.wait()  # the fourth waits for the first to leave the window
    assert time.monotonic() - started >= 0.39


def test_the_order_rate_limit_is_configurable_and_120_by_default() -> None:
    assert SchwabBroker(BrokerConfig("schwab")).limit.per_minute == 120
    broker = SchwabBroker(BrokerConfig("schwab", additional_params={"order_rate_limit": 60}))
    assert broker.limit.per_minute == 60


def test_the_plugin_registers_schwab_and_the_tda_alias() -> None:
    registry = plugins.registry("brokers")
    assert registry.get("schwab") is SchwabBroker
    assert registry.get("tda") is TdaBroker
