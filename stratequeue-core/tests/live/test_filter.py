from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stratequeue.data.base import BarFilter as ReExported
from stratequeue.data.live import BarFilter
from stratequeue.granularity import parse_granularity
from stratequeue.models import Bar

T0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)


def bar(t: datetime, symbol: str = "X") -> Bar:
    return Bar(symbol, t, 1, 2, 1, 1.5)


def test_the_filter_is_still_importable_where_plugins_import_it():
    assert ReExported is BarFilter


def test_marking_a_time_drops_bars_at_or_before_it_and_never_moves_back():
    f = BarFilter(parse_granularity("1m"))
    f.mark("X", T0)
    f.mark("X", T0 - timedelta(minutes=5))
    assert f.last["X"] == T0
    assert not f.accept(bar(T0))
    assert f.accept(bar(T0 + timedelta(minutes=1)))


def test_out_of_order_duplicate_and_future_bars_are_counted_as_dropped():
    f = BarFilter(parse_granularity("1m"), clock=lambda: T0 + timedelta(minutes=2))
    assert list(
        f.filter(
            [
                bar(T0),
                bar(T0 + timedelta(minutes=1)),
                bar(T0),  # older than the last delivered
                bar(T0 + timedelta(minutes=1)),  # a repeat
                bar(T0 + timedelta(minutes=3)),  # after the clock
            ]
        )
    ) == [bar(T0), bar(T0 + timedelta(minutes=1))]
    assert f.dropped == 3
