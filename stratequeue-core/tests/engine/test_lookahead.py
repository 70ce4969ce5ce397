"""Indicators that look ahead cannot be reproduced live: the runner says so, once."""

from __future__ import annotations

import logging

from conftest import DATASETS, run_live
from strategies import CentredMean, SmaCross, TrailingTrend


def _lookahead_records(caplog):
    return [r for r in caplog.records if "looks ahead" in r.getMessage()]


def test_centred_rolling_window_is_reported_once_naming_indicator_and_strategy(caplog):
    caplog.set_level(logging.WARNING, logger="stratequeue.engine")
    run_live(DATASETS["SYN"].iloc[:200], CentredMean)
    records = _lookahead_records(caplog)
    assert len(records) == 1
    assert "'mid'" in records[0].getMessage()
    assert "CentredMean" in records[0].getMessage()


def test_trailing_strategy_atr_bfill_is_reported_from_bar_zero(caplog):
    caplog.set_level(logging.WARNING, logger="stratequeue.engine")
    run_live(DATASETS["GOOG"].iloc[:300], TrailingTrend)
    messages = [r.getMessage() for r in _lookahead_records(caplog)]
    assert len(messages) == 1
    assert "TrailingStrategy.__atr" in messages[0] and "TrailingTrend" in messages[0]


def test_centred_window_after_a_warm_start_is_reported(caplog):
    caplog.set_level(logging.WARNING, logger="stratequeue.engine")
    run_live(DATASETS["SYN"].iloc[:400], CentredMean, warm=300)
    assert len(_lookahead_records(caplog)) == 1


def test_causal_indicators_are_not_reported(caplog):
    caplog.set_level(logging.WARNING, logger="stratequeue.engine")
    run_live(DATASETS["SYN"].iloc[:300], SmaCross)
    assert _lookahead_records(caplog) == []
