from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from conftest import KEY, T0, minute_rows
from stratequeue.errors import DataSourceError


def test_history_follows_pagination_and_returns_last_n_closed_bars_oldest_first(fake, make_source):
    fake.add_bars("AAPL", 60, minute_rows(T0 - timedelta(hours=3), 180 + 1))  # incl. in-progress
    source = make_source("1m")

    bars = source.history("AAPL", 120)

    assert len(bars) == 120
    assert [b.timestamp for b in bars] == sorted(b.timestamp for b in bars)
    assert bars[-1].timestamp == T0 - timedelta(minutes=1)  # the open 14:00 bar is left out
    assert bars[0].timestamp == T0 - timedelta(minutes=120)
    assert sum("cursor=" in r for r in fake.requests) >= 2  # page size is 50


def test_history_aggregates_five_minutes_on_polygon_boundaries(fake, make_source):
    fake.add_bars("AAPL", 60, minute_rows(T0 - timedelta(hours=1), 60))
    bars = make_source("5m").history("AAPL", 3)
    assert [b.timestamp.minute for b in bars] == [45, 50, 55]
    first = bars[0]
    assert "/range/5/minute/" in fake.requests[0]
    assert first.open == pytest.approx(100.0 + 45 * 0.1)
    assert first.close == pytest.approx(100.0 + 50 * 0.1)
    assert first.volume == pytest.approx(sum(10.0 + i for i in range(45, 50)))


def test_daily_stock_bars_start_at_new_york_midnight(fake, make_source, clock):
    start = datetime(2024, 5, 28, 4, 0, tzinfo=UTC)  # midnight New York (EDT)
    rows = [r for d in range(6) for r in minute_rows(start + timedelta(days=d, hours=9), 3)]
    fake.add_bars("AAPL", 60, rows)
    bars = make_source("1d").history("AAPL", 10)
    assert [b.timestamp.hour for b in bars] == [4] * len(bars)
    assert bars[-1].timestamp == datetime(2024, 6, 2, 4, 0, tzinfo=UTC)  # 3 June still open


def test_crypto_symbols_map_to_polygon_tickers(fake, make_source):
    fake.add_bars("X:BTCUSD", 60, minute_rows(T0 - timedelta(minutes=10), 10, price=60000))
    source = make_source("1m")
    for written in ("BTC", "BTC/USD", "btc-usd", "X:BTCUSD"):
        bars = source.history(written, 3)
        assert len(bars) == 3 and bars[0].symbol == written
    assert all("/ticker/X:BTCUSD/" in r for r in fake.requests)


def test_bad_history_bars_are_dropped_with_the_reason(fake, make_source, caplog):
    start = T0 - timedelta(minutes=6)
    fake.add_bars(
        "AAPL",
        60,
        [
            (start, 10, 11, 9, 10.5, 1),
            (start + timedelta(minutes=1), 10, 9, 11, 10, 1),  # high < low
            (start + timedelta(minutes=2), -1, 11, -2, 10, 1),  # non-positive
            (start + timedelta(minutes=3), None, 11, 9, 10, 1),  # missing -> NaN
            (start + timedelta(minutes=4), 10, 11, 9, 10.5, 1),
        ],
    )
    with caplog.at_level(logging.WARNING):
        bars = make_source("1m").history("AAPL", 10)
    assert [b.timestamp for b in bars] == [start, start + timedelta(minutes=4)]
    text = caplog.text
    assert "below low" in text and "not a positive" in text and "NaN" in text


def test_missing_key_names_the_variable_and_where_to_get_one(make_source):
    with pytest.raises(DataSourceError) as err:
        make_source("1m", env={})
    assert "POLYGON_API_KEY" in str(err.value) and "polygon.io" in str(err.value)


def test_wrong_key_names_the_variable_and_never_shows_the_key(fake, make_source, caplog):
    env = {**fake.env, "POLYGON_API_KEY": "wrong-" + KEY}
    with caplog.at_level(logging.DEBUG), pytest.raises(DataSourceError) as err:
        make_source("1m", env=env).history("AAPL", 5)
    assert "POLYGON_API_KEY" in str(err.value)
    assert KEY not in str(err.value) and KEY not in caplog.text


def test_plan_without_the_data_says_how_to_upgrade(fake, make_source):
    fake.rest_status = 403
    with pytest.raises(DataSourceError, match="pricing"):
        make_source("1m").history("AAPL", 5)


def test_rate_limited_history_is_a_clear_error_after_the_client_retries(fake, make_source):
    fake.rate_limit_per_minute = 0
    with pytest.raises(DataSourceError, match="POLYGON_BASE_URL|failed"):
        make_source("1m").history("AAPL", 5)
    assert fake.rate_limited >= 2


def test_unreachable_server_fails_fast_thanks_to_timeouts(make_source):
    env = {"POLYGON_API_KEY": KEY, "POLYGON_BASE_URL": "http://127.0.0.1:9"}
    started = datetime.now(UTC)
    with pytest.raises(DataSourceError):
        make_source("1m", env=env).history("AAPL", 5)
    assert datetime.now(UTC) - started < timedelta(seconds=10)


def test_granularities_and_setup_text():
    from stratequeue_polygon import PolygonDataSource

    assert PolygonDataSource.granularities == ("1s", "1m", "5m", "15m", "1h", "1d")
    assert PolygonDataSource.env_vars == ("POLYGON_API_KEY",)
    text = PolygonDataSource.setup_instructions()
    assert "POLYGON_API_KEY" in text and "POLYGON_WS_URL" in text


def test_installed_entry_point_is_discovered():
    from stratequeue import plugins

    plugins.reset()
    try:
        assert "polygon" in plugins.registry("data_sources").names()
    finally:
        plugins.reset()


def test_entry_point_names_the_module_with_the_hook():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="stratequeue") if e.name == "polygon"]
    registered = {}
    ep.load().register_data_sources(register=registered.__setitem__)
    assert registered["polygon"].__name__ == "PolygonDataSource"


def test_importing_the_plugin_does_not_import_massive_websockets_or_aiohttp():
    """Every stratequeue command (--help too) loads the plugin: it must stay cheap."""
    import subprocess
    import sys

    code = (
        "import sys, stratequeue_polygon; print(sorted(m for m in "
        "('massive', 'websockets', 'urllib3', 'aiohttp', 'httpx', 'pandas') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
