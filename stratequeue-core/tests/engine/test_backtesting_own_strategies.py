"""Parity on strategies nobody here wrote: backtesting.py's own test suite and its documentation
examples, replayed through the live code path (``own_cases.replay``: CSV -> csv source -> App
with ``replay=True`` -> paper broker -> ledger) and compared with ``Backtest.run`` exactly.

The test-suite strategies are backtesting.py's own classes (harvested from
``backtesting.test._test`` by running its test methods, see ``own_cases.harvest``). The
documentation examples (kernc/backtesting.py ``doc/examples``) are scripts, not an importable
package: ``doc_strategies.py`` expresses their logic in our own code, each naming its page.

Each case must replay identically, or be refused with a reason naming the strategy's feature
(``EXPECTED``). ``python -m tests.engine.test_backtesting_own_strategies`` is not needed:
``pytest -k own_strategies -rA`` shows every outcome.
"""

from __future__ import annotations

import functools
import re

import pandas as pd
import pytest
from backtesting.test import GOOG
from own_cases import Case, harvest, outcome

#: backtesting.py's test methods whose Backtest.run calls are cases (optimize, plot-only and
#: multiprocessing tests add no strategy of their own and are left out)
SUITE = (
    "TestBacktest.test_run",
    "TestBacktest.test_data_extra_columns",
    "TestBacktest.test_assertions",
    "TestBacktest.test_broker_params",
    "TestBacktest.test_absolute_size_order_warns_on_insufficient_margin",
    "TestBacktest.test_spread_commission",
    "TestBacktest.test_commissions",
    "TestBacktest.test_strategy_str",
    "TestBacktest.test_compute_stats",
    "TestBacktest.test_compute_stats_bordercase",
    "TestBacktest.test_trade_enter_hit_sl_on_same_day",
    "TestBacktest.test_stop_price_between_sl_tp",
    "TestBacktest.test_position_close_portion",
    "TestBacktest.test_close_orders_from_last_strategy_iteration",
    "TestBacktest.test_check_adjusted_price_when_placing_order",
    "TestStrategy.test_position",
    "TestStrategy.test_broker_hedging",
    "TestStrategy.test_broker_exclusive_orders",
    "TestStrategy.test_trade_multiple_close",
    "TestStrategy.test_close_trade_leaves_needsize_0",
    "TestStrategy.test_stop_limit_order_price_is_stop_price",
    "TestStrategy.test_autoclose_trades_on_finish",
    "TestStrategy.test_order_tag",
    "TestPlot.test_preview",
    "TestPlot.test_wellknown",
    "TestPlot.test_resample",
    "TestPlot.test_indicator_name",
    "TestPlot.test_indicator_color",
    "TestPlot.test_indicator_scatter",
    "TestPlot.test_range_axis",
    "TestLib.test_SignalStrategy",
    "TestLib.test_TrailingStrategy",
    "TestUtil.test_pandas_accessors",
    "TestRegressions.test_gh_521",
    "TestRegressions.test_stats_annualized",
    "TestRegressions.test_cancel_orders",
    "TestRegressions.test_trade_on_close_closes_trades_on_close",
    "TestRegressions.test_trades_dates_match_prices",
    "TestRegressions.test_sl_always_before_tp",
    "TestRegressions.test_stop_entry_and_tp_in_same_bar",
    "TestRegressions.test_sl_tp_values_in_trades_df",
    "TestRegressions.test_sl_value_in_trades_df_when_gapped_through",
)

#: cases that cannot replay like the backtest: the outcome they must have instead (a refusal
#: or warning naming the strategy's feature). Everything else must be "identical".
NO_DATES = r"UsageError: CSV file .* holds numbers, not dates"
EXPECTED: dict[str, str] = {
    # the data has no dates (a RangeIndex): a live bar always has a time
    r"TestBacktest\.test_commissions#1:S": NO_DATES,
    r"TestPlot\.test_range_axis#1:SmaCross": NO_DATES,
    r"TestRegressions\.test_gh_521#1:S": NO_DATES,
    r"TestRegressions\.test_trade_on_close_closes_trades_on_close#\d:S": NO_DATES,
    # init() asserts facts of the whole data set (the last weeks of GOOG): false on fewer bars
    r"TestBacktest\.test_assertions#1:Assertive": (
        r"StrategyError: Strategy Assertive raised AssertionError in init\(\) .*"
        r"\(_test\.py line 146\)"
    ),
    # the backtest raises too (an invalid TP for the spread): the same error, the strategy's
    r"TestBacktest\.test_check_adjusted_price_when_placing_order#1:S": (
        r"^both raise: StrategyError: Strategy S raised ValueError in next\(\) .*"
        r"Long orders require: SL \(None\) < LIMIT"
    ),
    # TrailingStrategy back-fills its ATR: warned from the first bar, and its NaN stop on the
    # first bars makes backtesting.py's broker refuse it: the strategy's error
    r"TestLib\.test_TrailingStrategy#1:S|doc:Strategies Library:SmaCross": (
        r"StrategyError: .* raised AssertionError in next\(\) .* price: -inf.*"
        r"warned: .*'TrailingStrategy\.__atr' looks ahead"
    ),
    # init() reads len(self.data): live its first init() saw 1 bar, the backtest all 20
    r"TestLib\.test_MultiBacktest_handles_mixed_no_trade_results:20": (
        r"^0 trades replayed, 1 in the backtest; warned: .*init\(\) sets '_will_trade'"
    ),
    # the model trains on the first 400 rows in init(): without that much history it cannot
    r"doc:Machine Learning:MLTrainOnceStrategy\(no history\)": (
        r"StrategyError: Strategy MLTrainOnce raised ValueError in init\(\) at bar .*"
        r"\(doc_strategies\.py line \d+\): 0 training rows"
    ),
}


def _manual() -> list[Case]:
    """Suite strategies whose test runs them where a recorder cannot see (a process pool, an
    optimizer), on that test's data and options."""
    from backtesting.test import _test

    cases = [
        Case(
            f"TestLib.test_MultiBacktest_handles_mixed_no_trade_results:{n}",
            _test.TestLib.SometimesNoTrade,
            GOOG.iloc[:n],
            {"cash": 100_000},
        )
        for n in (20, 21, 22)
    ]
    kolkata = GOOG.iloc[:100].copy()
    kolkata.index = kolkata.index.tz_localize("Asia/Kolkata")
    cases.append(
        Case(
            "TestRegressions.test_optimize_datetime_index_with_timezone:SmaCross",
            _test.SmaCross,
            kolkata,
            {"cash": 10_000},
            {"fast": 2, "slow": 4},
        )
    )
    return cases


@functools.cache
def all_cases() -> tuple[Case, ...]:
    from doc_strategies import doc_cases

    found: list[Case] = []
    for test in SUITE:
        found.extend(harvest(test))
    found.extend(_manual())
    found.extend(doc_cases())
    return tuple(found)


def _ids() -> list[str]:
    return [c.name for c in all_cases()]


@pytest.mark.parametrize("name", _ids())
def test_replays_like_backtest_run(name: str, tmp_path) -> None:
    case = next(c for c in all_cases() if c.name == name)
    got = outcome(case, tmp_path)
    reason = next((r for k, r in EXPECTED.items() if re.fullmatch(k, name)), None)
    if reason is None:  # identical; warnings of unused look-ahead arrays may come with it
        assert got.split("; ")[0] == "identical", f"{name}: {got}"
    else:
        assert re.search(reason, got), f"{name}: expected a refusal matching {reason!r}, got {got}"


if __name__ == "__main__":  # a count for the README: python -m engine.test_backtesting_own...
    import tempfile
    from pathlib import Path

    pd.set_option("display.width", 200)
    tally = 0
    cases = all_cases()
    with tempfile.TemporaryDirectory() as tmp:
        for k, case in enumerate(cases):
            result = outcome(case, Path(tmp) / str(k))
            tally += result == "identical"
            print(f"{case.name}: {result}", flush=True)  # noqa: T201
    print(f"identical {tally}/{len(cases)}")  # noqa: T201
