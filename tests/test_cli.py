"""The command line as a user meets it: one-line errors with exit code 2, the info flags,
a real demo run."""

from __future__ import annotations

import sqlite3

import pytest

from .conftest import EXAMPLES

SMA = str(EXAMPLES / "strategies" / "sma.py")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--strategy", SMA, "--symbols", "AAPL", "--broker", "etrade"], "Unknown broker 'etrade'"),
        (
            ["--strategy", SMA, "--symbols", "AAPL", "--data-source", "bloomberg"],
            "Unknown data source 'bloomberg'",
        ),
        (
            ["--strategy", SMA, "--symbols", "AAPL", "--granularity", "2m"],
            "Unknown granularity '2m'",
        ),
        (["--strategy", SMA, "--symbols", " , "], "No symbols given"),
        (["--strategy", "nope.py", "--symbols", "AAPL"], "Strategy file 'nope.py' not found"),
        (
            ["--strategy", SMA, "--symbols", "AAPL", "--live", "--paper"],
            "--live and --paper contradict",
        ),
        (["--strategy", SMA, "--symbols", "AAPL", "--frobnicate"], "No such option '--frobnicate'"),
        (
            ["--strategy", SMA, "--symbols", "AAPL", "--live"],
            "--live needs real prices: pass --data-source NAME",
        ),
        (
            ["--strategies", "missing.txt", "--symbols", "AAPL"],
            "Strategies file 'missing.txt' not found",
        ),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(run, home, args, expected):
    out = run(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert expected in lines[0]
    assert "Traceback" not in out.stderr + out.stdout


def test_broken_strategy_files_are_one_line_errors(run, home, tmp_path):
    cases = {
        "syntax.py": ("from backtesting import Strategy\nclass S(Strategy)\n    pass\n", "syntax"),
        "nostrat.py": ("x = 1\n", "Strategy"),
        "imports.py": ("import not_a_real_module_xyz\n", "not_a_real_module_xyz"),
    }
    for name, (source, expected) in cases.items():
        path = tmp_path / name
        path.write_text(source)
        out = run("--strategy", str(path), "--symbols", "AAPL", "--db", str(tmp_path / "l.sqlite"))
        assert out.returncode == 2, (name, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert expected.lower() in out.stderr.lower() and name in out.stderr


def test_version_and_help(run):
    assert run("--version").stdout.startswith("stratequeue, version")
    help_text = run("--help").stdout
    for flag in (
        "--strategy",
        "--strategies",
        "--symbols",
        "--data-source",
        "--paper",
        "--live",
        "--no-trading",
        "--broker",
        "--duration",
        "--verbose",
        "--granularity",
        "--lookback",
        "--list-brokers",
        "--broker-status",
        "--broker-setup",
        "--list-granularities",
        "--db",
        "replay",
        "plugins",
        "status",
        "export",
    ):
        assert flag in help_text, flag


def test_info_flags_print_tables(run, home):
    assert "paper" in run("--list-brokers").stdout
    status = run(
        "--broker-status", env={"PAPER_KEY": "PKSECRETVALUE123", "PAPER_SECRET": "shh-very-secret"}
    )
    assert "Paper Ready" in status.stdout
    assert "PKSECRETVALUE123" not in status.stdout and "shh-very-secret" not in status.stdout
    grans = run("--list-granularities").stdout
    assert "demo" in grans and "1s, 1m, 5m, 15m, 30m, 1h, 1d" in grans
    assert "paper" in run("--broker-setup", "paper").stdout


def test_the_readme_demo_prints_signals_and_paper_fills(run, tmp_path):
    db = tmp_path / "demo.sqlite"
    out = run(
        "--strategy",
        SMA,
        "--symbols",
        "AAPL",
        "--data-source",
        "demo",
        "--granularity",
        "1s",
        "--duration",
        "0.35",
        "--db",
        str(db),
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    assert "using the local paper broker" in out.stdout
    assert ("BUY" in out.stdout) or ("SELL" in out.stdout), out.stdout
    assert "FILL" in out.stdout
    assert "STRATEGY PERFORMANCE" in out.stdout
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] >= 1
    assert con.execute("SELECT COUNT(*) FROM signals").fetchone()[0] >= 1


def test_no_trading_prints_signals_and_sends_nothing(run, tmp_path):
    db = tmp_path / "signals.sqlite"
    out = run(
        "--strategy",
        SMA,
        "--symbols",
        "MSFT",
        "--granularity",
        "1s",
        "--duration",
        "0.25",
        "--no-trading",
        "--db",
        str(db),
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    assert "signals only" in out.stdout
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 0


def test_three_strategies_on_three_symbols_then_a_restart_resumes_the_books(run, tmp_path):
    db = tmp_path / "portfolio.sqlite"
    args = (
        "--strategies",
        str(EXAMPLES / "strategies.txt"),
        "--symbols",
        "AAPL,MSFT,ETH",
        "--granularity",
        "1s",
        "--db",
        str(db),
    )
    first = run(*args, "--duration", "0.35", timeout=120)
    assert first.returncode == 0, first.stderr
    for sid in ("sma_short", "momentum_1h", "mean_rev"):
        assert sid in first.stdout
    con = sqlite3.connect(db)
    sleeves = con.execute("SELECT COUNT(*) FROM sleeves").fetchone()[0]
    assert sleeves == 9
    status = run("status", "--db", str(db))
    assert status.returncode == 0 and "TOTAL" in status.stdout
    second = run(*args, "--duration", "0.1", timeout=120)
    assert second.returncode == 0, second.stderr
    assert "Resumed 9 strategy book(s)" in second.stdout
    assert "Traceback" not in second.stderr
    # Every strategy's position is what its fills say, and they add up to the paper account.
    paper = sqlite3.connect(db.with_name(db.stem + ".paper-account.sqlite"))
    holdings = {s: q for s, q in paper.execute("SELECT symbol, qty FROM holdings") if q}
    owned = {
        s: q
        for s, q in con.execute("SELECT symbol, SUM(qty) FROM fill_allocations GROUP BY symbol")
        if abs(q) > 1e-12
    }
    assert owned == holdings


def test_on_exit_flatten_closes_every_position_and_a_restart_agrees(run, tmp_path):
    db = tmp_path / "flat.sqlite"
    args = ("--strategy", SMA, "--symbols", "AAPL", "--granularity", "1s", "--db", str(db))
    out = run(*args, "--duration", "0.3", "--on-exit", "flatten", timeout=120)
    assert out.returncode == 0, out.stderr
    con = sqlite3.connect(db)
    assert con.execute("SELECT COALESCE(SUM(qty), 0) FROM fill_allocations").fetchone()[0] == 0
    assert (
        con.execute(
            "SELECT COUNT(*) FROM orders WHERE status IN ('pending', 'accepted')"
        ).fetchone()[0]
        == 0
    )
    paper = sqlite3.connect(db.with_name(db.stem + ".paper-account.sqlite"))
    assert all(q == 0 for (q,) in paper.execute("SELECT qty FROM holdings"))
    again = run(*args, "--duration", "0.05", timeout=120)  # the rebuilt book is flat too
    assert again.returncode == 0, again.stderr
    assert "Resumed 1 strategy book(s)" in again.stdout
