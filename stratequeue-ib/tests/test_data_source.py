"""The ``ib`` data source against the fake TWS, with the real ib_async: history, 5-second
real-time bars folded into the granularity, a dropped connection backfilled, pacing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import wait_for
from stratequeue.data.base import DataSourceConfig
from stratequeue.granularity import parse_granularity
from stratequeue.models import Bar
from stratequeue.testing import ManualClock, StreamRunner
from stratequeue_ib import IBDataSource
from stratequeue_ib.pacing import Pacer
from stratequeue_ib.testing import FakeTWS
from stratequeue_ib.testing.tape import TapeBar, walk

#: Monday 3 June 2024, 10:00 New York: in regular trading hours
T0 = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)


def folded(symbol: str, subs: list[TapeBar], seconds: int) -> list[Bar]:
    """The bars ``subs`` make at ``seconds`` per bar, computed here from first principles."""
    periods: dict[int, list[TapeBar]] = {}
    for s in subs:
        periods.setdefault(s.time // seconds * seconds, []).append(s)
    return [
        Bar(
            symbol,
            datetime.fromtimestamp(start, UTC),
            group[0].open,
            max(b.high for b in group),
            min(b.low for b in group),
            group[-1].close,
            sum(b.volume for b in group),
        )
        for start, group in sorted(periods.items())
    ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + timedelta(hours=1))


@pytest.fixture
def tws(clock: ManualClock) -> Iterator[FakeTWS]:
    with FakeTWS(accounts=("DU123456",)) as fake:
        fake.now = clock
        yield fake


@pytest.fixture
def make(tws: FakeTWS, clock: ManualClock) -> Iterator:
    made: list[IBDataSource] = []

    def build(granularity: str = "1m", rth: bool = False, **options: object) -> IBDataSource:
        env = {"IB_PORT": str(tws.port), "IB_USE_RTH": "1" if rth else "0"}
        opts = {"clock": clock, "timeout": 5.0, "history_backoff": 0.01, **options}
        gran = parse_granularity(granularity, IBDataSource.granularities)
        source = IBDataSource(DataSourceConfig(gran, env=env, options=opts))
        made.append(source)
        return source

    yield build
    for source in made:
        source.close()


def test_history_is_closed_bars_oldest_first_exact_in_regular_hours(tws, make, clock) -> None:
    # from 09:20 New York (before the open) to 10:31:30 (a minute in progress)
    tape = walk(T0 - timedelta(minutes=40), 12 * 71 + 6, 190.0)
    tws.seed_bars("AAPL", tape)
    clock.set(T0 + timedelta(minutes=31, seconds=30))
    source = make("1m", rth=True)

    bars = source.history("AAPL", 500)

    rth = [b for b in tape if T0 - timedelta(minutes=30) <= datetime.fromtimestamp(b.time, UTC)]
    expected = folded("AAPL", rth, 60)[:-1]  # 09:30 .. 10:30; 10:31 is still under way
    assert bars == expected
    assert len(bars) == 61
    (request,) = tws.history_requests()
    assert request.fields[16:21] == (
        "1 min",
        "7 D",
        "1",
        "TRADES",
        "2",
    )  # 500 min: 2 sessions + nights


def test_currency_pair_history_asks_for_midpoints(tws, make, clock) -> None:
    tws.seed_bars("EURUSD", walk(T0, 12 * 5, 1.08))
    bars = make("5m").history("FX:EURUSD", 3)
    assert len(bars) == 1 and bars[0].volume == 0.0  # TWS sends -1: no volume for midpoints
    assert tws.history_requests()[0].fields[19] == "MIDPOINT"


@pytest.mark.parametrize("granularity, seconds", [("1m", 60), ("5m", 300)])
def test_five_second_bars_fold_exactly(tws, make, granularity: str, seconds: int) -> None:
    tws.seed_bars("AAPL", walk(T0 - timedelta(minutes=10), 12 * 10, 190.0))
    source = make(granularity)
    assert source.history("AAPL", 2)[-1].timestamp == T0 - timedelta(seconds=seconds)
    runner = StreamRunner(source, ["AAPL"])
    try:
        wait_for(lambda: tws.realtime_subscriptions() == 1)
        pushed = tws.push_walk("AAPL", 12 * 10)  # ten minutes of 5-second bars
        expected = folded("AAPL", pushed, seconds)
        assert runner.take(len(expected)) == expected
        assert runner.quiet(0.3) == []
    finally:
        runner.stop()
    sub = [r for r in tws.log if r.fields[0] == "50"][0]
    assert sub.fields[15:18] == ("5", "TRADES", "0")


def test_a_dropped_connection_is_backfilled_in_order_once(tws, make) -> None:
    tws.seed_bars("AAPL", walk(T0 - timedelta(minutes=5), 12 * 5, 190.0))
    source = make("1m", reconnect_backoff=0.05)
    source.history("AAPL", 3)
    runner = StreamRunner(source, ["AAPL"])
    try:
        wait_for(lambda: tws.realtime_subscriptions() == 1)
        before = tws.push_walk("AAPL", 12 * 3 + 6, seed=1)  # 3.5 minutes, seen live
        assert runner.take(3) == folded("AAPL", before, 60)[:3]

        tws.drop_connections(refuse=True)
        wait_for(lambda: tws.sessions() == 0)
        gap = tws.push_walk("AAPL", 12 * 2, seed=2)  # 2 minutes nobody hears
        tws.accept()
        wait_for(lambda: source.reconnects == 1 and tws.realtime_subscriptions() == 1)
        after = tws.push_walk("AAPL", 12 * 2 - 6, seed=3)

        expected = folded("AAPL", before + gap + after, 60)[3:]
        got = runner.take(len(expected))
        assert got == expected  # the gap's minutes, then live ones: in order, each once
        assert runner.quiet(0.3) == []
    finally:
        runner.stop()
    gap_requests = [r for r in tws.history_requests() if r.fields[16] == "5 secs"]
    assert len(gap_requests) == 2  # at the start, and after the reconnect


def test_a_pacing_violation_is_retried(tws, make) -> None:
    tape = walk(T0 - timedelta(minutes=5), 12 * 5, 190.0)
    tws.seed_bars("AAPL", tape)
    tws.fault("history", "pace")
    pacer = Pacer(same_gap=0.2)  # IB's 15 s between identical requests, shortened
    bars = make("1m", pacer=pacer).history("AAPL", 5)
    assert bars == folded("AAPL", tape, 60)
    first, second = tws.history_requests()  # refused with 162, then answered
    assert first.fields[2:] == second.fields[2:] and second.at - first.at >= 0.15


def test_the_pacer_keeps_to_ibs_limits() -> None:
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    for i in range(60):
        assert pacer.delay(i) == 0
        pacer.note(i)
    assert pacer.delay("61st") == 600.0  # 60 requests in 10 minutes
    now[0] = 600.0
    assert pacer.delay("61st") == 0
    pacer.note("same")
    now[0] = 605.0
    assert pacer.delay("same") == 10.0  # no identical request within 15 s
    assert pacer.delay("other") == 0
