"""The account traded is the one asked for, in the mode asked for; each refusal is one line."""

from __future__ import annotations

import pytest
from conftest import make_broker
from stratequeue.errors import BrokerError
from stratequeue_ib.testing import FakeTWS


def _refusal(excinfo: pytest.ExceptionInfo[BrokerError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_an_account_the_login_does_not_manage_stops_the_run_naming_what_was_found(
    tws: FakeTWS,
) -> None:
    broker = make_broker(tws, account="DU999999")
    with pytest.raises(BrokerError) as excinfo:
        broker.connect()
    message = _refusal(excinfo)
    assert "IB_ACCOUNT=DU999999" in message and "found: DU123456" in message
    assert tws.sessions() == 0, "the refused connection was left open"


def test_paper_refuses_a_live_account_before_connecting(tws: FakeTWS) -> None:
    broker = make_broker(tws, paper=True, account="U1234567")
    with pytest.raises(BrokerError) as excinfo:
        broker.connect()
    assert _refusal(excinfo).startswith("--paper refuses IB account U1234567")
    assert tws.connections == 0


def test_live_refuses_a_paper_account_before_connecting(tws: FakeTWS) -> None:
    broker = make_broker(tws, paper=False, account="DU123456")
    with pytest.raises(BrokerError) as excinfo:
        broker.connect()
    assert _refusal(excinfo).startswith("--live refuses IB account DU123456")
    assert tws.connections == 0


def test_live_trades_a_live_account_the_login_manages() -> None:
    with FakeTWS(accounts=("U7654321",)) as tws:
        broker = make_broker(tws, paper=False, account="U7654321")
        assert broker.connect()
        try:
            assert broker.get_account_info().mode == "live"
        finally:
            broker.disconnect()


def test_a_missing_ib_account_is_one_line(tws: FakeTWS) -> None:
    broker = make_broker(tws, account="")
    with pytest.raises(BrokerError) as excinfo:
        broker.connect()
    assert _refusal(excinfo).startswith("IB_ACCOUNT is not set")


def test_nothing_listening_is_a_failed_connect_not_a_hang() -> None:
    with FakeTWS() as tws:
        port = tws.port
    broker = make_broker(tws, connect_timeout=1.0)
    assert tws.port == port
    assert broker.connect() is False
