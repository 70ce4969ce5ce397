from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.data import create_data_source
from stratequeue.data.base import BarFilter
from stratequeue.errors import UsageError
from stratequeue.granularity import parse_granularity
from stratequeue.models import Bar


def test_demo_is_deterministic_per_symbol_and_priced_like_the_asset():
    a = create_data_source("demo", "1m", {}).history("AAPL", 50)
    b = create_data_source("demo", "1m", {}).history("AAPL", 50)
    assert [x.close for x in a] == [x.close for x in b]
    assert 50 <= a[-1].close <= 1000
    btc = create_data_source("demo", "1h", {}).history("BTC", 10)
    assert 30_000 < btc[-1].close < 120_000
    assert all(bar.problem() is None for bar in a + btc)


@pytest.mark.parametrize("granularity", ["1s", "1m", "5m", "15m", "30m", "1h", "1d"])
def test_demo_history_is_contiguous_and_closed(granularity):
    source = create_data_source("demo", granularity, {})
    bars = source.history("MSFT", 20)
    step = parse_granularity(granularity).timedelta
    assert all(b2.timestamp - b1.timestamp == step for b1, b2 in zip(bars, bars[1:], strict=False))
    assert bars[-1].timestamp + step <= datetime.now(UTC) + timedelta(seconds=1)


def test_demo_streams_one_bar_per_second_and_stops_promptly():
    source = create_data_source("demo", "1s", {})
    source.history("AAPL", 5)
    got: list[Bar] = []

    def consume():
        for bar in source.stream(["AAPL"]):
            got.append(bar)

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(2.3)
    started = time.monotonic()
    source.stop()
    thread.join(timeout=3)
    assert not thread.is_alive() and time.monotonic() - started < 1.5
    assert 1 <= len(got) <= 4


def test_unknown_granularity_is_a_usage_error():
    with pytest.raises(UsageError, match="Unknown granularity '2m'"):
        create_data_source("demo", "2m", {})


def test_csv_source_reads_backtestings_shape(tmp_path):
    from backtesting.test import GOOG

    path = tmp_path / "GOOG.csv"
    GOOG.to_csv(path)
    source = create_data_source("csv", "1d", {}, path=str(path))
    history = source.history("GOOG", 10)
    rest = list(source.stream(["GOOG"]))
    assert len(history) + len(rest) == len(GOOG)
    assert history[0].open == GOOG.Open.iloc[0] and rest[-1].close == GOOG.Close.iloc[-1]


def test_csv_source_names_missing_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Date,Open,Close\n2024-01-01,1,2\n")
    with pytest.raises(UsageError, match="lacks column\\(s\\) High, Low"):
        create_data_source("csv", "1d", {}, path=str(path)).history("X", 1)


@pytest.mark.parametrize(
    ("bar", "reason"),
    [
        (Bar("X", datetime(2024, 1, 1, tzinfo=UTC), math.nan, 2, 1, 1.5), "missing"),
        (Bar("X", datetime(2024, 1, 1, tzinfo=UTC), 1, 2, -1, 1.5), "positive"),
        (Bar("X", datetime(2024, 1, 1, tzinfo=UTC), 1.5, 1, 2, 1.5), "below low"),
        (Bar("X", datetime(2999, 1, 1, tzinfo=UTC), 1, 2, 1, 1.5), "future"),
    ],
)
def test_bad_bars_are_dropped_with_the_reason(bar, reason, caplog):
    assert not BarFilter(parse_granularity("1m")).accept(bar)
    assert reason in caplog.text


def test_repeated_and_older_bars_are_dropped():
    f = BarFilter(parse_granularity("1m"))
    t = datetime(2024, 1, 1, tzinfo=UTC)
    assert f.accept(Bar("X", t, 1, 2, 1, 1.5))
    assert not f.accept(Bar("X", t, 1, 2, 1, 1.5))
    assert not f.accept(Bar("X", t - timedelta(minutes=1), 1, 2, 1, 1.5))
    assert f.accept(Bar("Y", t, 1, 2, 1, 1.5))


def test_a_source_refuses_a_granularity_it_does_not_offer_and_names_the_ones_it_does():
    from stratequeue.data.base import DataSourceConfig
    from stratequeue.data.demo import DemoDataSource
    from stratequeue.errors import UsageError

    class Hourly(DemoDataSource):
        name = "hourly"
        display_name = "Hourly"
        granularities = ("1h",)

    with pytest.raises(UsageError, match="Hourly data source does not offer 1m bars.*1h"):
        Hourly(DataSourceConfig(parse_granularity("1m")))
