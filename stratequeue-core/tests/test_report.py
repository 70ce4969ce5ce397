"""``stratequeue report``: statistics checked by hand on a tiny ledger, and the HTML opened in
headless Chromium with no console errors and one equity curve per strategy plus the account."""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from backtesting.test import GOOG
from stratequeue.cli import main
from stratequeue.ledger import Ledger
from stratequeue.report import write_report
from stratequeue.report.stats import periods_per_year

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
CHROMIUM = Path("/usr/bin/chromium")

# Injected into a copy of the report before Chromium opens it: records uncaught errors,
# unhandled promise rejections and console.error calls, waits until every bokeh document is
# idle, then writes the names of the figures that rendered with a non-empty box into the DOM.
PROBE = """
window.__sq = {errors: []};
window.addEventListener("error", (e) => __sq.errors.push(e.message));
window.addEventListener("unhandledrejection", (e) => __sq.errors.push("Unhandled rejection " + e.reason));
(() => {
  const original = console.error.bind(console);
  console.error = (...args) => { __sq.errors.push(args.map(String).join(" ")); original(...args); };
  let tries = 0;
  const done = (figures) => {
    const out = document.createElement("pre");
    out.id = "sq-probe";
    out.textContent = JSON.stringify({errors: __sq.errors, figures: figures});
    document.body.appendChild(out);
  };
  const poll = () => {
    tries += 1;
    const B = window.Bokeh;
    const ready = B && B.documents && B.documents.length > 0 && B.documents.every((d) => d.is_idle);
    if (!ready) { if (tries < 200) { setTimeout(poll, 50); } else { done(null); } return; }
    done([...B.index.all_views()]
      .filter((v) => v.model && typeof v.model.name === "string" && v.model.name.includes(":"))
      .filter((v) => v.el && v.el.isConnected && v.bbox && v.bbox.width > 0 && v.bbox.height > 0)
      .map((v) => v.model.name));
  };
  window.addEventListener("load", poll);
})();
"""


def open_in_chromium(report: Path, tmp_path: Path, *, inject: str = "") -> dict:
    """Open a probed copy of ``report``; the probe's findings plus console errors from stderr."""
    if not CHROMIUM.exists():
        pytest.skip(
            "headless check needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
        )
    page = tmp_path / f"probed-{report.name}"
    text = report.read_text(encoding="utf-8").replace(
        "<head>", f"<head>\n<script>{PROBE}</script>", 1
    )
    page.write_text(text.replace("</body>", f"{inject}</body>", 1), encoding="utf-8")
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r'<pre id="sq-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, (
        f"the probe never reported (chromium rc {result.returncode}):\n{result.stderr[-2000:]}"
    )
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    console = [
        line
        for line in result.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "ERROR:CONSOLE" in line)
    ]
    return {"errors": probe["errors"] + console, "figures": probe["figures"]}


def day(n: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=n)  # 2024-01-01 is a Monday


@pytest.fixture
def tiny_ledger(tmp_path) -> Path:
    """Two strategies over four weekdays; B has no snapshot on day 2."""
    db = tmp_path / "tiny.sqlite"
    ledger = Ledger(db)
    a = [(100.0, 0.0), (110.0, 5.0), (99.0, 5.0), (121.0, 0.0)]
    b = {0: (50.0, 0.0), 1: (50.0, 0.0), 3: (60.0, 1.0)}
    for n, (equity, qty) in enumerate(a):
        ledger.snapshot(day(n), "A", equity, equity, [("X", qty, None, None)])
    for n, (equity, qty) in b.items():
        ledger.snapshot(day(n), "B", equity, equity, [("Y", qty, None, None)])
    for ref, pnl in (("t1", 10.0), ("t2", -5.0)):
        ledger.close_trade(
            "A", "X", ref, size=5, entry_bar=1, exit_bar=2, entry_price=10, exit_price=12,
            sl=None, tp=None, pnl=pnl, commission=0, return_pct=0.1, entry_time=day(1),
            exit_time=day(2), tag=None,
        )  # fmt: skip
    ledger.open_trade("A", "X", "t3", 5, 3, 11.0, day(3), None, None, None)
    ledger.close()
    return db


def test_statistics_match_hand_computations(tiny_ledger, tmp_path):
    report = write_report(tiny_ledger, tmp_path / "r.html")
    assert report.curves == ["Account", "A", "B"]
    stats = {s.name: s for s in report.stats}

    a = stats["A"]
    assert a.total_return == pytest.approx(0.21)
    assert a.max_drawdown == pytest.approx(99 / 110 - 1)
    returns = [0.1, -0.1, 121 / 99 - 1]
    assert a.sharpe == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252)
    )
    assert (a.win_rate, a.trades) == (0.5, 2)
    assert a.exposure == pytest.approx(2 / 4)

    b = stats["B"]
    assert b.total_return == pytest.approx(0.2)
    assert b.max_drawdown == 0
    assert b.exposure == pytest.approx(1 / 3)
    assert math.isnan(b.win_rate) and b.trades == 0

    # The account carries B's 50 forward over day 2: 150, 160, 149, 181.
    account = stats["Account"]
    assert (account.start_equity, account.end_equity) == (150, 181)
    assert account.max_drawdown == pytest.approx(149 / 160 - 1)
    assert account.exposure == pytest.approx(3 / 4)
    assert (account.win_rate, account.trades) == (0.5, 2)


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (pd.date_range("2024-01-01", periods=10, freq="B", tz="UTC"), 252),
        (pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC"), 365),
        (pd.date_range("2024-01-06", periods=100, freq="h", tz="UTC"), 365 * 24),
        (pd.date_range("2024-01-01 14:30", periods=50, freq="5min", tz="UTC"), 252 * 288),
        (pd.date_range("2024-01-01", periods=10, freq="W", tz="UTC"), 365.25 / 7),
    ],
)
def test_sharpe_is_annualised_from_the_bar_spacing(stamps, expected):
    assert periods_per_year(pd.DatetimeIndex(stamps)) == pytest.approx(expected)


def test_report_refuses_a_missing_or_empty_ledger_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--db", str(tmp_path / "nope.sqlite")])
    assert exit_info.value.code == 2
    assert "No ledger at" in capsys.readouterr().err
    Ledger(tmp_path / "empty.sqlite").close()
    with pytest.raises(SystemExit):
        main(["report", "--db", str(tmp_path / "empty.sqlite")])
    err = capsys.readouterr().err
    assert "no equity snapshots yet" in err and len(err.strip().splitlines()) == 1


def test_replayed_ledger_renders_in_chromium_with_one_curve_per_strategy_and_the_account(
    tmp_path, capsys
):
    lines = [(EXAMPLES / "sma.py", "sma", 0.6), (EXAMPLES / "mean_revert.py", "mr", 0.4)]
    config = tmp_path / "strategies.txt"
    config.write_text("".join(f"{path},{sid},{alloc}\n" for path, sid, alloc in lines))
    GOOG.iloc[:300].to_csv(tmp_path / "GOOG.csv")
    db, out = tmp_path / "ledger.sqlite", tmp_path / "report.html"
    main(
        [
            "replay",
            "--strategies",
            str(config),
            "--data",
            str(tmp_path / "GOOG.csv"),
            "--db",
            str(db),
        ]
    )
    main(["report", "--db", str(db), "--out", str(out)])
    assert "Report written to" in capsys.readouterr().out

    text = out.read_text(encoding="utf-8")
    assert "<script src=" not in text and "<link" not in text  # works offline: all inlined
    assert 'id="trades"' in text and "sma" in text and "mr" in text

    page = open_in_chromium(out, tmp_path)
    assert page["errors"] == []
    equity = sorted(f for f in page["figures"] if f.startswith("equity:"))
    assert equity == ["equity:Account", "equity:mr", "equity:sma"]
    assert len([f for f in page["figures"] if f.startswith("drawdown:")]) == 3


def test_the_chromium_check_catches_a_javascript_error(tiny_ledger, tmp_path):
    report = write_report(tiny_ledger, tmp_path / "r.html")
    page = open_in_chromium(report.path, tmp_path, inject="<script>notDefined();</script>")
    assert any("notDefined" in e for e in page["errors"])


def test_without_scipy_the_report_names_the_analytics_extra(tiny_ledger, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)  # as if scipy were not installed
    report = write_report(tiny_ledger, tmp_path / "r.html")
    assert report.returns is None
    text = report.path.read_text(encoding="utf-8")
    assert "pip install &quot;stratequeue[analytics]&quot; (scipy)" in text
    assert 'id="returns"' not in text


def test_replayed_talib_strategy_without_the_extra_is_one_line_exit_2(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "talib", None)
    GOOG.iloc[:100].to_csv(tmp_path / "GOOG.csv")
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--strategy", str(EXAMPLES / "rsi_talib.py"), "--data",
              str(tmp_path / "GOOG.csv"), "--db", str(tmp_path / "l.sqlite")])  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "stratequeue[analytics]"' in err
