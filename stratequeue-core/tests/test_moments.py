"""Runs of many runners: one display line per moment, and a warning, once, when the engine's
time per bar passes a quarter of the bar interval."""

from __future__ import annotations

from datetime import UTC, datetime

from stratequeue.app.moments import EngineBudget, Moment
from stratequeue.display import Display
from stratequeue.portfolio.events import FillEvent, RejectEvent, SignalEvent


def test_the_budget_warns_once_naming_both_ways_out():
    said: list[str] = []
    budget = EngineBudget(1.0, said.append)
    for _ in range(10):
        budget.add(0.2, 2000)  # under a quarter of a second
    assert said == []
    for _ in range(30):
        budget.add(0.6, 2000)
    assert len(said) == 1
    assert "--max-history" in said[0] and "--executor process" in said[0]
    assert "2000 runner(s)" in said[0]


def test_the_first_slow_moments_alone_do_not_warn():
    said: list[str] = []
    budget = EngineBudget(1.0, said.append)
    for seconds in [5.0] * 5 + [0.01] * 40:  # start-up costs, then a fast run
        budget.add(seconds, 10)
    assert said == []


def test_a_moment_is_one_line_with_rejections_kept(capsys):
    t0, t1 = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)
    display = Display(mode_label="paper", broker_label="paper")
    shown: list[tuple] = []
    moment = Moment(lambda when, bars, events: shown.append((when, bars, events)))

    def signal(symbol: str, action: str) -> SignalEvent:
        return SignalEvent("s", symbol, t0, action, 1.0, 1.0, 0.1)

    moment.add(t0, [signal("AAA", "BUY"), signal("BBB", "SELL")])
    moment.add(t0, [FillEvent("AAA", t0, "buy", 1, 1.0, "c1", (("s", 1.0),))])
    moment.add(t0, [RejectEvent("BBB", t0, "c2", "insufficient buying power", ("s",))])
    assert shown == []  # the moment is not over
    moment.add(t1, [])
    assert len(shown) == 1 and shown[0][1] == 3
    display.moment(*shown[0])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert "3 bars · 2 signals (1 BUY, 1 SELL; most on AAA, BBB) · 1 fills" in lines[0]
    assert any("REJECTED BBB" in line and "insufficient buying power" in line for line in lines)
    moment.flush()
    assert len(shown) == 2 and shown[1][1] == 1


def test_the_budget_sums_the_bars_of_one_moment():
    said: list[str] = []
    budget = EngineBudget(1.0, said.append)
    for t in range(30):
        for _symbol in range(100):  # 100 bars of 5 ms each: half a second per moment
            budget.spent(t, 0.005, 400)
    assert len(said) == 1 and "500 ms per bar for 400 runner(s)" in said[0]
