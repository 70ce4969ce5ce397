from __future__ import annotations

import math
from datetime import UTC

import pytest
from stratequeue.data.live import env_key, env_url, num, utcnow
from stratequeue.errors import DataSourceError


def test_num_reads_vendor_numbers_and_makes_missing_ones_nan():
    assert num("190.5") == 190.5 and num(3) == 3.0
    assert all(math.isnan(num(v)) for v in (None, "", "n/a", object()))


def test_utcnow_is_aware_utc():
    assert utcnow().tzinfo is UTC


def test_env_key_and_env_url_name_the_variable_and_the_fix():
    with pytest.raises(
        DataSourceError, match=r"needs VENDOR_KEY.*export VENDOR_KEY=.*setup vendor"
    ):
        env_key({"VENDOR_KEY": "  "}, "VENDOR_KEY", "vendor", "a key at https://example.com")
    assert env_key({"VENDOR_KEY": " k "}, "VENDOR_KEY", "vendor", "-") == "k"
    env = {"VENDOR_URL": "http://127.0.0.1:8080/"}
    assert (
        env_url(env, "VENDOR_URL", "https://x", ("http", "https"), "-") == "http://127.0.0.1:8080"
    )
    assert env_url({}, "VENDOR_URL", "https://x/", ("http", "https"), "-") == "https://x"
    with pytest.raises(DataSourceError, match=r"VENDOR_WS must start with ws:// or wss://"):
        env_url({"VENDOR_WS": "http://h"}, "VENDOR_WS", "wss://h", ("ws", "wss"), "wss://h")
