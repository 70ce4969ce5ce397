"""No key or secret in any log line, repr, exception or acknowledgement."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from conftest import make_broker, wait_for
from stratequeue.errors import BrokerError
from stratequeue.models import BrokerOrder, Side
from stratequeue_alpaca import AlpacaBroker
from stratequeue_alpaca.credentials import resolve
from stratequeue_alpaca.testing import FakeAlpaca
from test_data import run_stream, source


@pytest.fixture
def fake():
    with FakeAlpaca(key="PKQ7W2LMZ8XR4T6Y", secret="s3Cr9tVx2Qm8Lp4Zk7Hn1Jd6Wf5Gb0Ya") as server:
        server.exchange.set_price("AAPL", 190.0)
        yield server


def test_a_whole_session_never_shows_the_key_or_secret(fake, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    broker = make_broker(fake)
    seen.append(repr(broker))
    seen.append(repr(broker.config))
    seen.append(repr(resolve(fake.env(), paper=True)))
    broker.connect()
    wait_for(lambda: fake.trade_listeners == 1)
    fake.fail("POST", "/v2/orders", 500)
    acks = [
        broker.submit_order(BrokerOrder("sec-1", "AAPL", Side.BUY, 1)),
        broker.submit_order(BrokerOrder("sec-2", "AAPL", Side.BUY, 100_000)),
        broker.submit_order(BrokerOrder("sec-3", "GME", Side.SELL, 1)),
    ]
    seen += [repr(a) for a in acks]
    wait_for(lambda: broker.poll_fills())
    fake.drop_streams()
    wait_for(lambda: fake.trade_listeners == 1, timeout=8)
    broker.disconnect()
    src = source(fake)
    got, thread = run_stream(src, ["AAPL"])
    wait_for(lambda: fake.bar_subscribers("AAPL"))
    fake.push_bar("AAPL", datetime(2024, 6, 3, 13, 30, tzinfo=UTC), 1, 2, 0.5, 1.5)
    wait_for(lambda: got)
    src.stop()
    thread.join(3)
    bad = {**fake.env(), "PAPER_SECRET": fake.secret + "x"}
    with pytest.raises(BrokerError) as info:
        AlpacaBroker.validate_credentials(bad, paper=True)
    seen.append(str(info.value))
    text = caplog.text + "\n".join(seen)
    assert "sec-1" in text  # the log did capture the session
    for secret in (fake.key, fake.secret):
        hexed = secret.encode().hex()
        for i in range(len(secret) - 6):  # not even a part of it
            assert secret[i : i + 6] not in text
            assert hexed[2 * i : 2 * i + 12] not in text.replace(" ", "")
