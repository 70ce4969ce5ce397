from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from conftest import KEY, T0, hourly_rows
from stratequeue.errors import DataSourceError


def test_hourly_history_returns_the_last_closed_bars_oldest_first(fake, make_source):
    fake.add_ohlcv("BTC", "hourly", hourly_rows(T0 + timedelta(hours=1), 30))  # incl. open 14:00
    bars = make_source("1h").history("BTC/USD", 24)
    assert len(bars) == 24
    assert bars[-1].timestamp == T0 - timedelta(hours=1)
    assert bars[0].symbol == "BTC/USD" and bars[0].open < bars[-1].open
    assert "time_period=hourly" in fake.requests[-1] and "symbol=BTC" in fake.requests[-1]


def test_daily_history(fake, make_source):
    day = timedelta(days=1)
    rows = [(T0.replace(hour=0) - day * (5 - i), 10, 12, 9, 11, 5) for i in range(6)]
    fake.add_ohlcv("ETH", "daily", rows)
    bars = make_source("1d").history("ETH", 3)
    assert [b.timestamp for b in bars] == [T0.replace(hour=0) - day * k for k in (3, 2, 1)]


def test_free_plan_error_1006_warms_up_from_live_samples_and_says_so_once(
    fake, make_source, caplog
):
    fake.ohlcv_allowed = False
    source = make_source("1h")
    with caplog.at_level(logging.WARNING, logger="stratequeue_cmc"):
        assert source.history("BTC", 20) == []
        assert source.history("ETH", 20) == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "1006" in lines[0] and "live samples" in lines[0] and "21.0 h" in lines[0]


def test_finer_than_an_hour_has_no_history_and_says_how_long_warm_up_takes(
    fake, make_source, caplog
):
    with caplog.at_level(logging.WARNING, logger="stratequeue_cmc"):
        assert make_source("5m").history("BTC", 12) == []
    # T0 starts a 5m period, which is skipped: 12 bars take 13 periods
    assert "no 5m history" in caplog.text and "65 min" in caplog.text
    assert fake.requests == []


def test_error_code_is_checked_even_on_http_200(fake, make_source):
    fake.add_ohlcv("BTC", "hourly", hourly_rows(T0, 5))
    fake.fail_next.append((200, 1009))
    with pytest.raises(DataSourceError, match="daily credit limit"):
        make_source("1h").history("BTC", 3)


@pytest.mark.parametrize(("http", "code"), [(401, 1001), (401, 1002)])
def test_bad_or_missing_key_stops_naming_cmc_api_key(fake, make_source, caplog, http, code):
    fake.fail_next.append((http, code))
    with caplog.at_level(logging.DEBUG), pytest.raises(DataSourceError) as err:
        make_source("1h").history("BTC", 3)
    assert "CMC_API_KEY" in str(err.value) and str(code) in str(err.value)
    assert KEY not in str(err.value) and KEY not in caplog.text


def test_wrong_key_is_refused_by_the_server(fake, make_source):
    env = {**fake.env, "CMC_API_KEY": "nope"}
    with pytest.raises(DataSourceError, match="CMC_API_KEY"):
        make_source("1h", env=env).history("BTC", 3)


def test_missing_key_names_the_variable_and_where_to_get_one(make_source):
    with pytest.raises(DataSourceError) as err:
        make_source("1h", env={})
    assert "CMC_API_KEY" in str(err.value) and "coinmarketcap.com/api" in str(err.value)


def test_rate_limits_are_waited_out_and_logged(fake, make_source, caplog):
    fake.add_ohlcv("BTC", "hourly", hourly_rows(T0, 5))
    fake.fail_next.extend([(429, 1008), (429, 1011), (200, 1011)])
    with caplog.at_level(logging.WARNING, logger="stratequeue_cmc"):
        bars = make_source("1h").history("BTC", 3)
    assert len(bars) == 3
    assert caplog.text.count("retrying") == 3


def test_bad_history_bars_are_dropped_with_the_reason(fake, make_source, caplog):
    h = timedelta(hours=1)
    fake.add_ohlcv(
        "BTC",
        "hourly",
        [
            (T0 - 4 * h, 10, 12, 9, 11, 1),
            (T0 - 3 * h, 10, 9, 12, 11, 1),  # high < low
            (T0 - 2 * h, 10, 12, 9, None, 1),  # missing close
            (T0 - 1 * h, 10, 12, 9, 11, 1),
        ],
    )
    with caplog.at_level(logging.WARNING):
        bars = make_source("1h").history("BTC", 10)
    assert [b.timestamp for b in bars] == [T0 - 4 * h, T0 - h]
    assert "below low" in caplog.text and "NaN" in caplog.text


def test_setup_text_granularities_and_env_vars():
    from stratequeue_cmc import CoinMarketCapDataSource as Source

    assert Source.granularities == ("1m", "5m", "15m", "30m", "1h", "1d")
    assert Source.env_vars == ("CMC_API_KEY",)
    assert "CMC_API_KEY" in Source.setup_instructions()


def test_entry_point_registers_coinmarketcap_and_cmc():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="stratequeue") if e.name == "cmc"]
    registered = {}
    ep.load().register_data_sources(register=registered.__setitem__)
    assert set(registered) == {"coinmarketcap", "cmc"}


def test_installed_entry_point_is_discovered():
    from stratequeue import plugins

    plugins.reset()
    try:
        names = plugins.registry("data_sources").names()
        assert "coinmarketcap" in names and "cmc" in names
    finally:
        plugins.reset()


def test_poll_interval_from_cmc_poll_seconds_within_the_rate_limit(fake, make_source):
    env = {**fake.env, "CMC_POLL_SECONDS": "2"}
    assert make_source(env=env, requests_per_minute=60)._poll_interval(2) == timedelta(seconds=2)
    # never faster than the plan allows: 20 requests/min is one every 3 s
    assert make_source(env=env, requests_per_minute=20)._poll_interval(2) == timedelta(seconds=3)
    assert make_source(requests_per_minute=60)._poll_interval(2) == timedelta(seconds=15)


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf"])
def test_bad_cmc_poll_seconds_is_a_clear_error(fake, make_source, value):
    with pytest.raises(DataSourceError, match="CMC_POLL_SECONDS"):
        make_source(env={**fake.env, "CMC_POLL_SECONDS": value})


def test_importing_the_plugin_does_not_import_httpx_or_aiohttp():
    """Every stratequeue command (--help too) loads the plugin: it must stay cheap."""
    import subprocess
    import sys

    code = (
        "import sys, stratequeue_cmc; "
        "print(sorted(m for m in ('httpx', 'aiohttp', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
