"""The toy data source against the fake Toy Exchange, time driven by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from stratequeue.data.base import DataSourceConfig
from stratequeue.errors import DataSourceError, UsageError
from stratequeue.granularity import parse_granularity
from stratequeue.testing import ManualClock, StreamRunner
from stratequeue_toy import ToySource
from stratequeue_toy.fake import FakeToyExchange

START = datetime(2024, 6, 3, 14, 30, 20, tzinfo=UTC)


@pytest.fixture
def clock():
    return ManualClock(START)


@pytest.fixture
def fake(clock):
    with FakeToyExchange(clock=clock) as fake:
        yield fake


def source(fake, clock, granularity="1m", **env):
    env = env or {"TOY_API_KEY": fake.api_key, "TOY_URL": fake.base_url}
    config = DataSourceConfig(
        parse_granularity(granularity), env=env, options={"clock": clock, "poll": 0.02}
    )
    return ToySource(config)


def test_history_is_the_last_closed_minute_bars_oldest_first(fake, clock):
    bars = source(fake, clock).history("TOY", 5)
    assert [b.timestamp for b in bars] == [
        datetime(2024, 6, 3, 14, m, tzinfo=UTC) for m in range(25, 30)
    ]
    assert all(b.problem() is None for b in bars)


def test_stream_delivers_each_new_bar_once_in_order(fake, clock):
    feed = source(fake, clock)
    runner = StreamRunner(feed, ["TOY", "ABC"])
    first = runner.take(2)  # the last closed bar of each symbol
    assert {(b.symbol, b.timestamp.minute) for b in first} == {("TOY", 29), ("ABC", 29)}
    assert runner.quiet() == []  # polled again and again: nothing new, nothing repeated
    clock.set(START + timedelta(minutes=2))
    later = runner.take(4)
    assert sorted((b.symbol, b.timestamp.minute) for b in later) == [
        ("ABC", 30), ("ABC", 31), ("TOY", 30), ("TOY", 31),
    ]  # fmt: skip
    assert runner.quiet() == []
    assert runner.stop() < 1.0


def test_a_missing_key_or_granularity_names_the_fix(fake, clock):
    with pytest.raises(DataSourceError, match="needs TOY_API_KEY"):
        source(fake, clock, OTHER="x")
    with pytest.raises(UsageError, match="does not offer 5m bars"):
        source(fake, clock, granularity="5m")
