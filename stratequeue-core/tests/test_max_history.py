"""--max-history N: indicators from the last N bars. With N at least 10x the longest indicator
window every trade of the parity suite is unchanged, and the window is really in use."""

from __future__ import annotations

import pytest
from stratequeue.cli import main
from stratequeue.engine import StrategyRunner
from stratequeue.engine.loader import load_strategy
from stratequeue.engine.lookback import default_lookback
from test_replay_parity import CASES, DATA, OPTIONS, assert_same, reference, replayed


def longest_window(path, frame) -> int:
    """The longest indicator warm-up of the strategy on this data (its NaN prefix)."""
    return default_lookback(load_strategy(path), frame.iloc[:1000])


#: BTCUSD's 156 monthly bars are too few for a window 10x the indicators' to cut anything
LONG = [c for c in CASES if c[2] != "BTCUSD"]


@pytest.mark.parametrize(
    ("name", "path", "data", "option"), LONG, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in LONG]
)
def test_ten_times_the_longest_window_leaves_every_trade_unchanged(
    tmp_path, name, path, data, option
):
    frame, cash = DATA[data]
    flags, kwargs = OPTIONS[option]
    keep = 10 * max(longest_window(path, frame), 10)
    assert keep < len(frame) // 2, "the window must cut the history for most of the run"
    trades, _ = replayed(tmp_path, frame, path, cash, *flags, "--max-history", str(keep))
    assert_same(trades, reference(frame, path, cash, **kwargs).trades)


def test_the_runner_computes_indicators_on_the_window(monkeypatch):
    from backtesting.test import GOOG
    from stratequeue.engine import history
    from stratequeue.models import Bar, utc
    from test_replay_parity import EXAMPLES

    seen: list[int] = []
    real = history.window

    def spy(data, keep):
        view = real(data, keep)
        seen.append(len(view))
        return view

    monkeypatch.setattr("stratequeue.engine.runner.window", spy)
    loaded = load_strategy(EXAMPLES / "sma.py")
    runner = StrategyRunner(loaded.cls, strategy_id="sma", symbol="GOOG")
    runner.max_history = 200
    for ts, row in GOOG.iloc[:400].iterrows():
        runner.on_bar(Bar("GOOG", utc(ts.to_pydatetime()), *row[:5]))
    assert max(seen) == 200 and seen[-1] == 200
    assert len(runner.strategy.sma_fast) == 400  # the strategy still sees the whole run


def test_a_bad_max_history_is_refused_in_one_line(tmp_path, capsys):
    from test_replay_parity import EXAMPLES

    bad = tmp_path / "bad.py"
    bad.write_text((EXAMPLES / "sma.py").read_text() + "\nMAX_HISTORY = 'lots'\n")
    frame, _ = DATA["GOOG"]
    frame.to_csv(tmp_path / "GOOG.csv")
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--strategy", str(bad), "--data", str(tmp_path / "GOOG.csv")])
    assert exit_info.value.code == 2
    assert "MAX_HISTORY = 'lots'" in capsys.readouterr().err
