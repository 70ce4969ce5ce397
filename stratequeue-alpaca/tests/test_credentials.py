from __future__ import annotations

import pytest
from stratequeue.errors import BrokerError
from stratequeue_alpaca import AlpacaBroker
from stratequeue_alpaca.credentials import PAPER_URL, resolve, stream_url_for

PAPER = {"PAPER_KEY": "pk", "PAPER_SECRET": "ps", "PAPER_ENDPOINT": "https://paper.example"}
LIVE = {
    "ALPACA_API_KEY": "lk",
    "ALPACA_SECRET_KEY": "ls",
    "ALPACA_BASE_URL": "https://api.alpaca.markets",
}


def test_paper_prefers_paper_keys_and_endpoint():
    creds = resolve({**PAPER, **LIVE}, paper=True)
    assert (creds.key, creds.secret, creds.base_url) == ("pk", "ps", "https://paper.example")
    assert creds.source == "PAPER_KEY/PAPER_SECRET"


def test_paper_falls_back_to_live_keys_with_the_paper_endpoint_never_the_live_url():
    creds = resolve(LIVE, paper=True)
    assert (creds.key, creds.base_url, creds.paper) == ("lk", PAPER_URL, True)


def test_paper_fallback_uses_paper_endpoint_override():
    creds = resolve({**LIVE, "PAPER_ENDPOINT": "http://127.0.0.1:9/v2/"}, paper=True)
    assert creds.base_url == "http://127.0.0.1:9"
    assert creds.stream_url == "ws://127.0.0.1:9/stream"


def test_live_uses_live_variables_only():
    creds = resolve({**PAPER, **LIVE}, paper=False)
    assert (creds.key, creds.base_url, creds.paper) == ("lk", "https://api.alpaca.markets", False)


@pytest.mark.parametrize("missing", ["ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL"])
def test_live_refuses_without_every_live_variable_and_never_uses_paper_keys(missing):
    env = {**PAPER, **{k: v for k, v in LIVE.items() if k != missing}}
    with pytest.raises(BrokerError, match=missing) as info:
        resolve(env, paper=False)
    assert "ps" not in str(info.value)


def test_paper_without_any_keys_names_the_variables():
    with pytest.raises(BrokerError, match="PAPER_KEY and PAPER_SECRET"):
        resolve({}, paper=True)


def test_paper_mode_refuses_an_endpoint_that_is_the_live_api():
    with pytest.raises(BrokerError, match="live API"):
        resolve({**PAPER, "PAPER_ENDPOINT": "https://api.alpaca.markets"}, paper=True)


def test_live_mode_refuses_the_paper_url():
    with pytest.raises(BrokerError, match="paper API"):
        resolve({**LIVE, "ALPACA_BASE_URL": "https://paper-api.alpaca.markets"}, paper=False)


def test_stream_url_is_derived_from_the_rest_base():
    assert (
        stream_url_for("https://paper-api.alpaca.markets")
        == "wss://paper-api.alpaca.markets/stream"
    )
    assert stream_url_for("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/stream"


def test_credential_status_for_the_broker_status_table():
    assert AlpacaBroker.credential_status({}).status == "Not Configured"
    assert AlpacaBroker.credential_status(PAPER).status == "Paper Ready"
    both = AlpacaBroker.credential_status({**PAPER, **LIVE})
    assert both.status == "Paper & Live Ready"
    assert AlpacaBroker.credential_status(LIVE).status == "Paper & Live Ready"
    no_url = {k: v for k, v in LIVE.items() if k != "ALPACA_BASE_URL"}
    assert AlpacaBroker.credential_status(no_url).status == "Paper Ready"
    for value in ("pk", "ps", "lk", "ls"):
        assert value not in both.detail


def test_setup_instructions_are_step_by_step():
    text = AlpacaBroker.setup_instructions()
    for needed in ("PAPER_KEY", "PAPER_SECRET", "ALPACA_API_KEY", "ALPACA_BASE_URL", "1.", "5."):
        assert needed in text


def test_validate_credentials_returns_the_account_number(fake):
    assert AlpacaBroker.validate_credentials(fake.env(), paper=True) == "PA3FAKE00001"


def test_validate_credentials_with_wrong_keys_names_the_variables_not_the_secret(fake):
    env = {**fake.env(), "PAPER_SECRET": "wrong-secret-value"}
    with pytest.raises(BrokerError, match="PAPER_KEY/PAPER_SECRET") as info:
        AlpacaBroker.validate_credentials(env, paper=True)
    assert "wrong-secret-value" not in str(info.value)


def test_connect_in_live_mode_without_live_variables_refuses(fake):
    from stratequeue.brokers.base import BrokerConfig

    broker = AlpacaBroker(
        BrokerConfig("alpaca", paper_trading=False, credentials=fake.env(paper=True))
    )
    with pytest.raises(BrokerError, match="ALPACA_API_KEY"):
        broker.connect()
    assert fake.requests == []
