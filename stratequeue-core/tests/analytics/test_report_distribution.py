"""With the analytics extra: the report's returns distribution and probabilistic Sharpe ratio,
checked against hand computations, and drawn in headless Chromium."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG
from stratequeue.cli import main
from stratequeue.report import write_report
from stratequeue.report.analytics import probabilistic_sharpe
from test_report import open_in_chromium, tiny_ledger  # noqa: F401  (fixture)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "strategies"


def by_hand(returns: list[float]) -> float:
    """PSR from the paper's formula with moments computed here, Φ from math.erfc."""
    x = np.array(returns)
    n, mean, std = len(x), x.mean(), x.std(ddof=1)
    m2, m3, m4 = ((x - mean) ** 2).mean(), ((x - mean) ** 3).mean(), ((x - mean) ** 4).mean()
    g1 = m3 / m2**1.5 * math.sqrt(n * (n - 1)) / (n - 2)  # adjusted Fisher-Pearson
    excess = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (m4 / m2**2) - 3 * (n - 1))
    sr = mean / std
    z = sr * math.sqrt(n - 1) / math.sqrt(1 - g1 * sr + (excess + 3 - 1) / 4 * sr**2)
    return 0.5 * math.erfc(-z / math.sqrt(2))


def test_psr_matches_the_formula_computed_by_hand():
    returns = [0.01, -0.004, 0.007, 0.002, -0.011, 0.015, 0.003, -0.002, 0.009, 0.001]
    assert probabilistic_sharpe(np.array(returns)) == pytest.approx(by_hand(returns), rel=1e-12)


def test_psr_is_one_half_without_an_edge_and_grows_with_evidence():
    assert probabilistic_sharpe(np.array([0.01, -0.01, 0.02, -0.02])) == 0.5
    pattern = [0.012, -0.01, 0.003, -0.004]  # a small edge: mean 0.00025 a bar
    short, long = np.tile(pattern, 10), np.tile(pattern, 1000)
    assert probabilistic_sharpe(long) > probabilistic_sharpe(short) > 0.5
    assert probabilistic_sharpe(-long) < 0.5 and probabilistic_sharpe(-long) < probabilistic_sharpe(
        -short
    )
    assert math.isnan(probabilistic_sharpe(np.array([0.01, 0.01, 0.01])))
    assert math.isnan(probabilistic_sharpe(np.array([0.01, 0.02, 0.03])))  # kurtosis needs 4


def test_report_lists_each_curves_distribution(tiny_ledger, tmp_path):  # noqa: F811
    report = write_report(tiny_ledger, tmp_path / "r.html")
    assert report.returns is not None
    got = {r.name: r for r in report.returns}
    assert list(got) == ["Account", "A", "B"]
    a = got["A"]
    assert np.array_equal(a.returns, pd.Series([100.0, 110.0, 99.0, 121.0]).pct_change()[1:])
    assert a.mean == np.mean(a.returns) and math.isnan(a.psr)  # 3 returns: too few for a PSR
    assert 'id="returns"' in report.path.read_text(encoding="utf-8")


def test_replayed_report_draws_a_returns_histogram_per_curve_in_chromium(tmp_path, capsys):
    GOOG.iloc[:400].to_csv(tmp_path / "GOOG.csv")
    db, out = tmp_path / "ledger.sqlite", tmp_path / "report.html"
    main(["replay", "--strategy", str(EXAMPLES / "rsi_talib.py"), "--data",
          str(tmp_path / "GOOG.csv"), "--db", str(db)])  # fmt: skip
    main(["report", "--db", str(db), "--out", str(out)])
    capsys.readouterr()
    page = open_in_chromium(out, tmp_path)
    assert page["errors"] == []
    assert sorted(f for f in page["figures"] if f.startswith("returns:")) == [
        "returns:Account",
        "returns:rsi_talib",
    ]
