from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

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


def drop_and_miss(fake, symbol: str, missed) -> None:
    """Drop the data websocket, push ``missed`` bars while the client is kept out, let it back."""
    fake.streams_blocked = True
    fake.drop_data_streams()
    wait_for(lambda: not fake.bar_subscribers(symbol))
    for t, base in missed:
        fake.push_bar(symbol, t, base, base + 1, base - 1, base + 0.5, 10)
    fake.streams_blocked = False
    wait_for(lambda: fake.bar_subscribers(symbol), timeout=10)


def test_minutes_missed_while_the_stream_was_down_are_backfilled_in_order_once(fake):
    fake.record_pushed_bars = True  # Alpaca's history holds every bar it streamed
    src = source(fake)
    got, thread = run_stream(src, ["AAPL"])
    wait_for(lambda: fake.bar_subscribers("AAPL"))
    t0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
    minutes = [t0 + timedelta(minutes=i) for i in range(7)]
    for i in (0, 1):
        fake.push_bar("AAPL", minutes[i], 100 + i, 101 + i, 99 + i, 100.5 + i, 10)
    wait_for(lambda: len(got) == 2)
    drop_and_miss(fake, "AAPL", [(minutes[i], 100 + i) for i in (2, 3, 4)])
    wait_for(lambda: len(got) == 5)
    for i in (4, 5, 6):  # the stream resends 13:34, which the backfill already delivered
        fake.push_bar("AAPL", minutes[i], 100 + i, 101 + i, 99 + i, 100.5 + i, 10)
    wait_for(lambda: len(got) >= 7)
    src.stop()
    thread.join(3)
    assert [(b.timestamp, b.close) for b in got] == [(m, 100.5 + i) for i, m in enumerate(minutes)]
    backfills = [r for r in fake.requests if r.path == "/v2/stocks/bars"]
    assert len(backfills) == 1 and backfills[0].query["timeframe"] == "1Min"


def test_a_five_minute_bar_split_by_a_drop_is_completed_from_history(fake):
    fake.record_pushed_bars = True
    src = source(fake, minutes=5)
    got, thread = run_stream(src, ["AAPL"])
    wait_for(lambda: fake.bar_subscribers("AAPL"))
    t0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
    fake.push_bar("AAPL", t0, 100, 101, 99, 100.5, 10)
    drop_and_miss(fake, "AAPL", [(t0 + timedelta(minutes=i), 100 + i) for i in (1, 2, 3, 4)])
    wait_for(lambda: len(got) == 1)
    fake.push_bar("AAPL", t0 + timedelta(minutes=4), 500, 501, 499, 500.5, 10)  # late copy
    fake.push_bar("AAPL", t0 + timedelta(minutes=5), 105, 106, 104, 105.5, 10)
    fake.push_bar("AAPL", t0 + timedelta(minutes=10), 110, 111, 109, 110.5, 10)
    wait_for(lambda: len(got) == 2)
    src.stop()
    thread.join(3)
    assert [(b.timestamp, b.open, b.high, b.close, b.volume) for b in got] == [
        (t0, 100, 105, 104.5, 50),
        (t0 + timedelta(minutes=5), 105, 106, 105.5, 10),
    ]


def day_rows(days: int, last: datetime):
    return [
        (last - timedelta(days=days - 1 - i), 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 1e6)
        for i in range(days)
    ]


def test_daily_history_asks_for_1day_bars_and_returns_only_closed_days(fake):
    ny = ZoneInfo("America/New_York")
    today = datetime.now(ny).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    fake.add_bars("AAPL", day_rows(6, today), timeframe="1Day")  # today's bar is still open
    fake.add_bars("AAPL", minute_rows(30, datetime.now(UTC)))  # not served for 1Day
    config = DataSourceConfig(Granularity(1, "d"), env=fake.env(), options={"retry_backoff": 0.01})
    bars = AlpacaDataSource(config).history("AAPL", 3)
    assert [b.timestamp for b in bars] == [today - timedelta(days=n) for n in (3, 2, 1)]
    assert fake.requests[-1].query["timeframe"] == "1Day"


def test_daily_bars_fold_a_new_york_day_of_minutes_and_close_with_the_next_days_first(fake):
    config = DataSourceConfig(Granularity(1, "d"), env=fake.env(), options={"retry_backoff": 0.01})
    src = AlpacaDataSource(config)
    got, thread = run_stream(src, ["AAPL"])
    wait_for(lambda: fake.bar_subscribers("AAPL"))
    ny = ZoneInfo("America/New_York")
    day = datetime(2024, 6, 3, tzinfo=ny)
    for hours, base in [(9.5, 100), (12, 104), (15.99, 102), (24 + 9.5, 110)]:
        fake.push_bar(
            "AAPL",
            (day + timedelta(hours=hours)).astimezone(UTC),
            base,
            base + 1,
            base - 1,
            base + 0.5,
            10,
        )
    wait_for(lambda: len(got) == 1)
    src.stop()
    thread.join(3)
    (bar,) = got
    assert (bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        datetime(2024, 6, 3, 4, tzinfo=UTC),
        100,
        105,
        99,
        102.5,
        30,
    )


@pytest.mark.parametrize("header", ["2", "HTTP-DATE"])
def test_a_rate_limited_bars_request_waits_what_retry_after_asks(fake, header):
    fake.add_bars("AAPL", minute_rows(3, datetime.now(UTC) - timedelta(minutes=2)))
    src = source(fake)  # retry_backoff 0.01 s: only Retry-After makes it wait long
    assert src.history("MSFT", 3) == []  # the client is built and warm
    if header == "HTTP-DATE":  # whole seconds: 3 s ahead is a wait of 2 to 3 s
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    fake.fail("GET", "/v2/stocks/bars", 429, retry_after=header)
    started = time.monotonic()
    bars = src.history("AAPL", 3)
    assert len(bars) == 3 and fake.count("GET", "/v2/stocks/bars") == 3
    assert time.monotonic() - started >= 1.9
