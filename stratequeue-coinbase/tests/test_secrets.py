"""No private key, and no request token made with it, in any log line, repr, error or answer."""

from __future__ import annotations

import logging

import pytest
from conftest import make_broker, wait_for
from stratequeue.errors import BrokerError
from stratequeue.models import BrokerOrder, OrderType, Side
from stratequeue_coinbase.config import settings_from
from stratequeue_coinbase.testing import FakeCoinbase


def test_a_whole_session_never_shows_the_secret_or_a_token(
    fake: FakeCoinbase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    broker = make_broker(fake)
    seen += [
        repr(broker),
        repr(broker.config),
        repr(broker.settings),
        repr(settings_from(fake.env())),
    ]
    broker.connect()
    fake.fail("POST", "/api/v3/brokerage/orders", 500)
    acks = [
        broker.submit_order(BrokerOrder("sec-1", "BTC-USD", Side.BUY, 0.01)),
        broker.submit_order(BrokerOrder("sec-2", "BTC-USD", Side.BUY, 1000.0)),
        broker.submit_order(BrokerOrder("sec-3", "NOPE-USD", Side.SELL, 1)),
        broker.submit_order(
            BrokerOrder(
                "sec-4", "BTC-USD", Side.BUY, 0.01, OrderType.LIMIT, 1.0, time_in_force="gtc"
            )
        ),
    ]
    seen += [repr(a) for a in acks]
    wait_for(lambda: broker.poll_fills())
    fake.drop_streams()
    wait_for(lambda: broker.feed is not None and broker.feed.connections >= 2)
    seen.append(repr(broker.get_account_info()))
    broker.disconnect()
    other = FakeCoinbase()
    for env in (
        {**fake.env(), "COINBASE_API_SECRET": other.key.pem},
        {**fake.env(), "COINBASE_API_SECRET": fake.key.pem[:-40]},
    ):
        with pytest.raises(BrokerError) as info:
            make_broker(fake, env).connect()
        seen.append(str(info.value))
    text = caplog.text + "\n".join(seen)
    assert "sec-1" in text and "INSUFFICIENT_FUND" in text  # the log did capture the session
    assert "eyJ" not in text, "a request token (JWT) was shown"
    for pem in (fake.key.pem, other.key.pem):
        body = "".join(line for line in pem.splitlines() if "PRIVATE KEY" not in line)
        for i in range(0, len(body) - 12):  # not even a part of it
            assert body[i : i + 12] not in text, "a part of the private key was shown"
