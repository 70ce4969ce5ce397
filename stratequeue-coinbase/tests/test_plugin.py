"""The plugin as StrateQueue sees it: entry point, names, credentials, setup, key checks."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import pytest
from conftest import make_broker
from stratequeue.brokers.base import BrokerConfig
from stratequeue.errors import BrokerError
from stratequeue_coinbase import CoinbaseBroker, CoinbaseProBroker
from stratequeue_coinbase.broker import CoinbaseProBroker as Pro
from stratequeue_coinbase.config import pem_from_env, settings_from
from stratequeue_coinbase.testing import FakeCoinbase
from stratequeue_coinbase.testing.harness import fast_params


def test_the_entry_point_registers_coinbase_and_the_coinbase_pro_alias() -> None:
    (ep,) = [ep for ep in entry_points(group="stratequeue") if ep.name == "coinbase"]
    registered: dict[str, type] = {}
    ep.load().register_brokers(register=registered.__setitem__)
    assert registered == {"coinbase": CoinbaseBroker, "coinbase-pro": CoinbaseProBroker}


def test_coinbase_pro_says_once_it_is_advanced_trade(
    fake: FakeCoinbase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    Pro._told = False
    config = BrokerConfig("coinbase-pro", paper_trading=False, credentials=fake.env())
    CoinbaseProBroker(config)
    CoinbaseProBroker(config)
    said = [r.getMessage() for r in caplog.records if "Advanced Trade" in r.getMessage()]
    assert len(said) == 1 and "--broker coinbase" in said[0]


def test_credential_status_is_live_only() -> None:
    assert CoinbaseBroker.credential_status({}).status == "Not Configured"
    env = {"COINBASE_API_KEY": "organizations/o/apiKeys/k", "COINBASE_API_SECRET": "x"}
    assert CoinbaseBroker.credential_status(env).status == "Live Ready"


def test_setup_explains_how_to_make_a_key_with_trade_permission() -> None:
    text = CoinbaseBroker.setup_instructions()
    for words in (
        "portal.cdp.coinbase.com",
        "Trade",
        "Transfer",
        "COINBASE_API_KEY",
        "\\n",
        "--paper",
    ):
        assert words in text


def test_a_pem_with_escaped_newlines_is_read(fake: FakeCoinbase) -> None:
    escaped = fake.env()["COINBASE_API_SECRET"]
    assert "\n" not in escaped
    assert pem_from_env(f'"{escaped}"') == fake.key.pem
    assert settings_from(fake.env()).api_secret == fake.key.pem


def test_missing_or_unreadable_keys_are_named_with_the_fix(fake: FakeCoinbase) -> None:
    with pytest.raises(BrokerError, match="COINBASE_API_SECRET not set.*--broker-setup coinbase"):
        settings_from({"COINBASE_API_KEY": "k"})
    bad = {
        **fake.env(),
        "COINBASE_API_SECRET": "-----BEGIN EC PRIVATE KEY-----\\nnope\\n-----END EC PRIVATE KEY-----",
    }
    with pytest.raises(BrokerError, match="could not be read as a private key"):
        make_broker(fake, bad).connect()


def test_a_key_without_trade_permission_stops_the_connection(fake: FakeCoinbase) -> None:
    fake.can_trade = False
    with pytest.raises(BrokerError, match="cannot trade"):
        make_broker(fake).connect()


def test_paper_mode_says_coinbase_has_no_paper_trading(fake: FakeCoinbase) -> None:
    config = BrokerConfig("coinbase", paper_trading=True, credentials=fake.env())
    with pytest.raises(BrokerError, match="no paper trading"):
        CoinbaseBroker(config).connect()


def test_a_token_from_another_key_is_refused_with_the_fix(fake: FakeCoinbase) -> None:
    other = FakeCoinbase()  # not started: only its key is used
    env = {**fake.env(), "COINBASE_API_SECRET": other.key.pem}
    with pytest.raises(BrokerError, match="HTTP 401.*COINBASE_API_KEY is the full key name"):
        make_broker(fake, env).connect()


def test_an_ed25519_key_signs_too() -> None:
    with FakeCoinbase(key="ed25519") as fake:
        broker = make_broker(fake)
        assert broker.connect()
        assert fake.key.algorithm == "EdDSA"
        broker.disconnect()


@pytest.mark.parametrize("var", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR"])
def test_the_fakes_certificate_is_trusted_whatever_the_environment_says(
    fake: FakeCoinbase, monkeypatch: pytest.MonkeyPatch, tmp_path, var: str
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv(var, str(empty if var != "SSL_CERT_DIR" else tmp_path))
    broker = make_broker(fake)
    assert broker.connect()
    assert broker.feed is not None and broker.feed.connected.is_set()
    broker.disconnect()


def test_without_the_fakes_certificate_nothing_is_trusted(fake: FakeCoinbase) -> None:
    env = {k: v for k, v in fake.env().items() if k != "COINBASE_CA_FILE"}
    broker = CoinbaseBroker(
        BrokerConfig(
            "coinbase",
            paper_trading=False,
            credentials=env,
            additional_params=fast_params(retries=0),
        )
    )
    with pytest.raises(BrokerError, match="could not be reached.*CERTIFICATE_VERIFY_FAILED"):
        broker.connect()


def test_the_fake_refuses_a_token_made_for_another_request(fake: FakeCoinbase) -> None:
    import httpx

    broker = make_broker(fake)
    broker.connect()
    try:
        wrong = broker.api.token(f"GET {fake.host}/api/v3/brokerage/key_permissions")
        reply = httpx.get(
            f"https://{fake.host}/api/v3/brokerage/accounts",
            headers={"Authorization": f"Bearer {wrong}"},
            verify=broker.api.tls,
        )
        assert reply.status_code == 401 and "uri" in reply.json()["message"]
    finally:
        broker.disconnect()
