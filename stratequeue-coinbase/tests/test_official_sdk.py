"""The official SDK (coinbase-advanced-py, in its own virtualenv: ``COINBASE_SDK_PYTHON``)
against the fake Coinbase: proof that the fake speaks what Coinbase speaks (REST with request
tokens over TLS, the user WebSocket). Skipped unless that interpreter is given; the nox session
``coinbase_sdk`` makes it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from stratequeue_coinbase.testing import FakeCoinbase

SDK_PYTHON = os.environ.get("COINBASE_SDK_PYTHON", "")
DRIVER = Path(__file__).parent / "sdk" / "drive_official_sdk.py"

pytestmark = pytest.mark.skipif(
    not SDK_PYTHON, reason="COINBASE_SDK_PYTHON (a python with coinbase-advanced-py) not set"
)


def test_the_official_sdk_trades_against_the_fake(fake: FakeCoinbase) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        **fake.env(),
        "SDK_NOW": str(int(time.time()) // 60 * 60),
        # what the project's machines set: the SDK must not let it replace the fake's CA
        "REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem",
    }
    done = subprocess.run(
        [SDK_PYTHON, str(DRIVER)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "accounts": ["USD"],
        "increments": ["0.00000001", "0.01"],
        "candles": 11,
        "market": [True, True],
        "edit": True,
        "get": "51000",
        "open": ["sdk-lmt"],
        "cancel": [True],
        "stop_bracket": [True, True],
        "refused": [False, "INSUFFICIENT_FUND"],
        "fills": [["0.01", "60000"]],
        "user_update": True,
        "heartbeat": True,
    }
    assert fake.exchange.posts["sdk-mkt"] == 2  # sent twice, one order
    assert sum(1 for o in fake.exchange.orders.values() if o["client_order_id"] == "sdk-mkt") == 1
