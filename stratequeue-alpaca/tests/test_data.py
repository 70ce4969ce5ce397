from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import wait_for
from stratequeue.data.base import DataSourceConfig
from stratequeue.errors import DataSourceError
from stratequeue.granularity import Granularity
from stratequeue_alpaca import AlpacaDataSource


def source(fake, minutes: int = 1, **env: str) -> AlpacaDataSource:
    config = DataSourceConfig(
        Granularity(minutes, "m"), env={**fake.env(), **env}, options={"retry_backoff": 0.01}
    )
    return AlpacaDataSource(config)


def minute_rows(count: int, end: datetime, base: float = 100.0):
    start = end.replace(second=0, microsecond=0) - timedelta(minutes=count - 1)
    return [
        (start + timedelta(minutes=i), base + i, base + i + 1, base + i - 1, base + i + 0.5, 10.0)
        for i in range(count)
    ]


def test_history_pages_and_returns_only_closed_bars_oldest_first(fake):
    now = datetime.now(UTC)
    fake.add_bars("AAPL", minute_rows(12, now))  # the last one is the unfinished current minute
    fake.page_size = 3
    bars = source(fake).history("AAPL", 5)
    assert len(bars) == 5
    assert [b.timestamp for b in bars] == sorted(b.timestamp for b in bars)
    assert bars[-1].timestamp + timedelta(minutes=1) <= now
    assert bars[-1].timestamp == now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    assert fake.count("GET", "/v2/stocks/bars") >= 2  # paged
    assert fake.requests[-1].query["feed"] == "iex"


def test_history_reads_its_endpoint_from_alpaca_data_url_with_or_without_a_slash(fake):
    fake.add_bars("AAPL", minute_rows(3, datetime.now(UTC) - timedelta(minutes=2)))
    bars = source(fake, ALPACA_DATA_URL=f"{fake.url}/").history("AAPL", 3)
    assert len(bars) == 3
    assert fake.count("GET", "/v2/stocks/bars") == 1


def test_crypto_history_uses_the_crypto_endpoint_and_pair(fake):
    fake.add_bars("BTC/USD", minute_rows(4, datetime.now(UTC) - timedelta(minutes=1), 65_000))
    bars = source(fake).history("BTC", 10)
    assert [b.symbol for b in bars] == ["BTC"] * 4
    assert fake.count("GET", "/v1beta3/crypto/us/bars") == 1


def test_history_drops_bad_bars(fake):
    now = datetime.now(UTC) - timedelta(minutes=2)
    rows = minute_rows(3, now)
    t, o, h, low, c, v = rows[1]
    rows[1] = (t, o, low - 5, low, c, v)  # high below low
    fake.add_bars("AAPL", rows)
    assert len(source(fake).history("AAPL", 3)) == 2


def test_stock_history_without_keys_names_the_variables(fake):
    config = DataSourceConfig(Granularity(1, "m"), env={"ALPACA_DATA_URL": fake.url})
    with pytest.raises(DataSourceError, match="PAPER_KEY"):
        AlpacaDataSource(config).history("AAPL", 5)
    assert AlpacaDataSource.missing_env({}) == ["ALPACA_API_KEY", "ALPACA_SECRET_KEY"]
    assert AlpacaDataSource.missing_env(fake.env()) == []


def run_stream(src, symbols):
    got = []
    thread = threading.Thread(target=lambda: got.extend(src.stream(symbols)), daemon=True)
    thread.start()
    return got, thread


def test_stream_delivers_msgpack_bars_once_in_order(fake):
    src = source(fake)
    got, thread = run_stream(src, ["AAPL", "BTC/USD"])
    wait_for(lambda: fake.bar_subscribers("AAPL") and fake.bar_subscribers("BTC/USD"))
    t0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
    fake.push_bar("AAPL", t0, 190.0, 191.0, 189.5, 190.5)
    fake.push_bar("AAPL", t0, 190.0, 191.0, 189.5, 190.5)  # a repeat is dropped
    fake.push_bar("BTC/USD", t0, 65_000, 65_100, 64_900, 65_050)
    fake.push_bar("AAPL", t0 + timedelta(minutes=1), 190.5, 191.5, 190.0, 191.0)
    wait_for(lambda: len(got) >= 3)
    src.stop()
    thread.join(3)
    assert not thread.is_alive()
    # stocks and crypto come on two sockets: order is per symbol
    assert [(b.timestamp.minute, b.close) for b in got if b.symbol == "AAPL"] == [
        (30, 190.5),
        (31, 191.0),
    ]
    assert [(b.timestamp.minute, b.close) for b in got if b.symbol == "BTC/USD"] == [(30, 65_050)]


def test_stream_folds_minutes_into_longer_bars(fake):
    src = source(fake, minutes=5)
    got, thread = run_stream(src, ["AAPL"])
    wait_for(lambda: fake.bar_subscribers("AAPL"))
    t0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
    for i in range(5):
        fake.push_bar("AAPL", t0 + timedelta(minutes=i), 100 + i, 101 + i, 99 + i, 100.5 + i, 10)
    wait_for(lambda: len(got) == 1)
    src.stop()
    thread.join(3)
    (bar,) = got
    assert (bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        t0,
        100,
        105,
        99,
        104.5,
        50,
    )
