"""The toy signal extractor chosen with ``--extractor toy``, through the installed
``stratequeue`` command: a replay of a band rule file books exactly the orders the rule
implies; an unknown extractor, or a rule file given to the wrong one, is one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

EXE = Path(sys.executable).parent / "stratequeue"  # the console script of this environment
RULE = Path(__file__).resolve().parents[1] / "rules" / "band.toml"

# Closes crossing the band of rules/band.toml (99-101) twice, then ending inside it.
CLOSES = [100.0, 100.5, 98.5, 98.0, 99.5, 101.5, 100.0, 100.2, 98.9, 99.8, 100.4, 102.0, 100.6]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOY_")}
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120, env=env)


def write_csv(path: Path) -> list[tuple[str, float, float]]:
    """The bars (ISO time, open, close): each opens 0.25 above the previous close."""
    bars, lines = [], ["Date,Open,High,Low,Close,Volume"]
    for i, close in enumerate(CLOSES):
        open_ = CLOSES[i - 1] + 0.25 if i else close
        day = f"2024-03-{i + 1:02d}"
        bars.append((f"{day}T00:00:00+00:00", open_, close))
        lines.append(f"{day},{open_},{max(open_, close) + 1},{min(open_, close) - 1},{close},1000")
    path.write_text("\n".join(lines) + "\n")
    return bars


def implied_orders(bars: list[tuple[str, float, float]]) -> list[tuple[str, float, float, str]]:
    """What the rule says, worked out by hand: decided on a bar's close (from the second bar,
    as backtesting.py's first ``next()``), filled at the next bar's open: (side, qty, price,
    fill time)."""
    rule = tomllib.loads(RULE.read_text())
    held, decided, fills = 0, None, []
    for i, (time, open_, close) in enumerate(bars):
        if decided is not None:
            fills.append((decided, float(rule["size"]), open_, time))
            held = rule["size"] if decided == "buy" else 0
            decided = None
        if i >= 1 and not held and close <= rule["buy_below"]:
            decided = "buy"
        elif i >= 1 and held and close >= rule["sell_above"]:
            decided = "sell"
    assert decided is None, "the data must not end on a signal: its order would not fill"
    return fills


@pytest.mark.parametrize(
    "command",
    [
        ("replay", "--data", "{csv}"),
        # the main command over the same file, warmed up on its first 2 bars (no signal there)
        ("--symbols", "TOY", "--data-source", "csv", "--data", "{csv}", "--granularity", "1d",
         "--lookback", "2"),
    ],
    ids=["replay", "paper-run"],
)  # fmt: skip
def test_a_run_with_the_toy_extractor_books_exactly_the_orders_the_rule_implies(tmp_path, command):
    bars = write_csv(tmp_path / "TOY.csv")
    db = tmp_path / "ledger.sqlite"
    args = [a.format(csv=tmp_path / "TOY.csv") for a in command]
    out = run(*args, "--extractor", "toy", "--strategy", str(RULE), "--db", str(db))
    assert out.returncode == 0, out.stdout + out.stderr
    expected = implied_orders(bars)
    assert [side for side, *_ in expected] == ["buy", "sell", "buy", "sell"]
    con = sqlite3.connect(db)
    booked = con.execute(
        "SELECT o.side, f.qty, f.price, f.ts, o.order_type, o.status "
        "FROM orders o JOIN fills f USING (client_order_id) ORDER BY f.ts"
    ).fetchall()
    orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    runs = con.execute("SELECT mode, extractor FROM runs").fetchall()
    con.close()
    assert booked == [(*fill, "market", "filled") for fill in expected]
    assert orders == len(expected)  # and no other order
    assert runs == [("paper", "toy")]
    # verify re-reads the rule file through the extractor the run used, not as Python
    checked = run("verify", "--db", str(db))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "IDENTICAL to its backtest" in checked.stdout


def test_an_unknown_extractor_is_one_line_naming_the_installed_ones(tmp_path):
    write_csv(tmp_path / "TOY.csv")
    out = run(
        "replay", "--extractor", "tyo", "--strategy", str(RULE), "--data",
        str(tmp_path / "TOY.csv"),
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "Error: Unknown signal extractor 'tyo'. Installed: backtesting, toy. "
        "Choose one with --extractor."
    ]


def test_a_rule_file_without_the_toy_extractor_is_one_line(tmp_path):
    """The default extractor reads backtesting.py files: a rule file is not one."""
    write_csv(tmp_path / "TOY.csv")
    out = run("replay", "--strategy", str(RULE), "--data", str(tmp_path / "TOY.csv"))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"Error: {RULE} is not a Python file: the backtesting extractor reads backtesting.py "
        "strategies (.py). For another format, choose its extractor with --extractor NAME "
        "(stratequeue plugins lists them)."
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "buy_below = 99\n",
            "'sell_above' must be a number (e.g. sell_above = 100.0); it is None.",
        ),
        ("buy_below = 101\nsell_above = 99\n", "buy_below 101 must be under sell_above 99."),
        ("buy_below = 99\nsell_above = 101\nsize = 0.5\n", "'size' must be a whole number"),
        ("buy_below = 99\nsell_above = 101\nstop = 1\n", "unknown key(s) stop."),
    ],
)
def test_a_bad_rule_file_is_one_line_naming_the_file_and_the_fix(tmp_path, text, message):
    rule = tmp_path / "bad.toml"
    rule.write_text(text)
    write_csv(tmp_path / "TOY.csv")
    out = run(
        "replay", "--extractor", "toy", "--strategy", str(rule), "--data",
        str(tmp_path / "TOY.csv"),
    )  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith(
        f"Error: {rule.resolve()}: " if "unknown" in message else "Error: "
    )
    assert message in out.stderr
