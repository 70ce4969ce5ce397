"""The plugin installed for real: found through its entry point by the `stratequeue` command
(a separate process, as a user runs it), with its broker, data source and command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).parent / "stratequeue"  # the console script of this environment


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOY_")}
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=60, env=env)


def test_stratequeue_plugins_lists_the_toy_plugin_and_what_it_registers():
    out = run("plugins")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "stratequeue-toy" in line)
    assert "0.1.0" in line and "brokers: toy; data sources: toy" in line


def test_the_broker_and_data_source_are_listed():
    brokers = run("--list-brokers")
    assert brokers.returncode == 0 and "toy" in brokers.stdout
    granularities = run("--list-granularities")
    assert granularities.returncode == 0 and "toy" in granularities.stdout


@pytest.mark.parametrize("args", [("toy-exchange", "--help")])
def test_the_plugin_command_is_added_to_the_cli(args):
    out = run(*args)
    assert out.returncode == 0 and "Serve a fake Toy Exchange" in out.stdout


def test_a_run_without_the_key_is_one_line_naming_it(tmp_path):
    strategy = Path(__file__).resolve().parents[2] / "strategies" / "sma.py"
    out = run(
        "--strategy", str(strategy), "--symbols", "TOY", "--data-source", "toy",
        "--no-trading", "--duration", "0.1", "--db", str(tmp_path / "ledger.sqlite"),
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        "Error: The toy data source needs TOY_API_KEY. Get a key from your Toy Exchange, then: "
        "export TOY_API_KEY=your-key (details: stratequeue --data-setup toy)"
    ]


def test_a_paper_run_trades_through_the_toy_broker_and_books_each_execution_once(tmp_path):
    """The demo's 1-second bars drive the SMA example; its orders go to the fake exchange,
    which fills them by itself (live mode); the ledger books exactly the venue's executions."""
    import sqlite3

    from stratequeue_toy.fake import FakeToyExchange

    strategy = Path(__file__).resolve().parents[2] / "strategies" / "sma.py"
    db = tmp_path / "ledger.sqlite"
    with FakeToyExchange(live=True) as fake:
        out = subprocess.run(
            [str(EXE), "--strategy", str(strategy), "--symbols", "TOY", "--broker", "toy",
             "--data-source", "demo", "--granularity", "1s", "--duration", "0.4",
             "--lookback", "40", "--db", str(db)],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "TOY_API_KEY": fake.api_key, "TOY_URL": fake.base_url},
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        venue = {(e["id"], e["client_order_id"], e["qty"], e["price"]) for e in fake.executions}
        posted = dict(fake.posts)
    assert "via Toy Exchange" in out.stdout
    assert venue, "the run placed no order that filled: it proves nothing"
    con = sqlite3.connect(db)
    booked = con.execute("SELECT execution_id, client_order_id, qty, price FROM fills").fetchall()
    con.close()
    assert sorted(booked) == sorted(venue)
    assert all(n == 1 for n in posted.values()), posted  # each order reached the venue once
