"""Logging: a console handler, a rotated DEBUG file always written, JSON lines, no secrets."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from stratequeue import logs
from stratequeue.logs import configure_logging

SECRET = "pk_live_9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def test_file_gets_debug_while_the_console_shows_warnings(tmp_path: Path, capsys):
    log_file = tmp_path / "ledger-folder" / "stratequeue.log"
    configure_logging(verbose=False, log_format="text", log_file=log_file)
    log = logging.getLogger("stratequeue.trader")
    log.debug("bar %s processed", 17)
    log.warning("feed for %s is stale", "AAPL")
    logging.getLogger("websockets.client").debug("< TEXT frame")  # other libraries' chatter
    logging.getLogger("httpx").info("HTTP Request: GET https://api.example")

    err = capsys.readouterr().err
    assert "WARNING stratequeue.trader: feed for AAPL is stale" in err
    assert "bar 17" not in err
    text = log_file.read_text()
    assert "DEBUG   stratequeue.trader: bar 17 processed" in text
    assert "WARNING stratequeue.trader: feed for AAPL is stale" in text
    assert "HTTP Request" in text and "TEXT frame" not in text
    assert text.startswith("20") and "Z DEBUG" in text  # UTC timestamps


def test_verbose_logs_every_step_to_the_console(tmp_path: Path, capsys):
    configure_logging(verbose=True, log_format="text", log_file=tmp_path / "stratequeue.log")
    logging.getLogger("stratequeue.portfolio").debug("netting 2 orders on AAPL")
    logging.getLogger("websockets.client").debug("< TEXT frame")
    assert "DEBUG stratequeue.portfolio: netting 2 orders on AAPL" in capsys.readouterr().err
    assert "TEXT frame" in (tmp_path / "stratequeue.log").read_text()


def test_log_file_rotates_and_keeps_three_old_files(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    log_file = tmp_path / "stratequeue.log"
    configure_logging(verbose=False, log_format="text", log_file=log_file)
    for n in range(400):
        logging.getLogger("stratequeue.trader").debug("bar %d: %s", n, "x" * 40)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "stratequeue.log",
        "stratequeue.log.1",
        "stratequeue.log.2",
        "stratequeue.log.3",
    ]
    assert all(p.stat().st_size <= 2_000 for p in tmp_path.iterdir())
    assert "bar 399:" in log_file.read_text()


def test_json_format_writes_one_object_per_line_on_console_and_file(tmp_path: Path, capsys):
    log_file = tmp_path / "stratequeue.log"
    configure_logging(verbose=False, log_format="json", log_file=log_file)
    log = logging.getLogger("stratequeue.risk.guard")
    log.info("order %s rejected: %s", "c-1", 'max_order_value "quoted"\nsecond line')
    try:
        raise RuntimeError("broker down")
    except RuntimeError:
        log.error("send failed", exc_info=True)

    file_lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [e["level"] for e in file_lines] == ["INFO", "ERROR"]
    first = file_lines[0]
    assert set(first) == {"ts", "level", "logger", "message"}
    assert first["logger"] == "stratequeue.risk.guard"
    assert first["message"] == 'order c-1 rejected: max_order_value "quoted"\nsecond line'
    assert first["ts"].endswith("+00:00")
    assert "RuntimeError: broker down" in file_lines[1]["exc"]
    console = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["message"] for e in console] == ["send failed"]  # WARNING and up


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_from_the_environment_never_reach_file_or_console(
    tmp_path: Path, capsys, monkeypatch, log_format: str
):
    monkeypatch.setenv("POLYGON_API_KEY", SECRET)
    monkeypatch.setenv("ALPACA_SECRET", "s3cr3t-value-xyz")
    monkeypatch.setenv("SHORT_TOKEN", "abcd")  # 4 characters: too short to mask safely
    log_file = tmp_path / "stratequeue.log"
    configure_logging(verbose=True, log_format=log_format, log_file=log_file)
    log = logging.getLogger("stratequeue_polygon.rest")
    log.debug(f"GET /v2/aggs?apiKey={SECRET}")
    log.warning("auth with %s / %s failed", SECRET, "s3cr3t-value-xyz")
    try:
        raise ConnectionError(f"401 for key {SECRET}")
    except ConnectionError:
        log.exception("request failed")
    logging.getLogger("other").warning("token abcd")

    written = log_file.read_text()
    shown = capsys.readouterr().err
    for output in (written, shown):
        assert SECRET not in output and "s3cr3t-value-xyz" not in output
        assert "apiKey=***" in output and "auth with *** / *** failed" in output
        assert "401 for key ***" in output
        assert "token abcd" in output


def test_configuring_again_replaces_the_earlier_handlers(tmp_path: Path):
    configure_logging(verbose=False, log_format="text", log_file=tmp_path / "a.log")
    configure_logging(verbose=False, log_format="json", log_file=tmp_path / "b.log")
    logging.getLogger("stratequeue").info("once")
    assert (tmp_path / "a.log").read_text() == ""
    assert len((tmp_path / "b.log").read_text().splitlines()) == 1


def test_unknown_format_is_refused_with_the_choices(tmp_path: Path):
    with pytest.raises(ValueError, match="Use text or json"):
        configure_logging(verbose=False, log_format="xml", log_file=None)


def test_cli_writes_the_log_next_to_the_ledger_or_in_the_default_folder(
    tmp_path: Path, monkeypatch
):
    from stratequeue.cli.main import cli

    home = tmp_path / "home"
    monkeypatch.setenv("STRATEQUEUE_HOME", str(home))
    runner = CliRunner()
    assert runner.invoke(cli, ["--list-brokers"]).exit_code == 0
    assert (home / "stratequeue.log").exists()

    ledger = tmp_path / "runs" / "ledger.sqlite"
    result = runner.invoke(cli, ["--db", str(ledger), "--log-format", "json", "--list-brokers"])
    assert result.exit_code == 0, result.output
    logging.getLogger("stratequeue.trader").info("hello")
    entry = json.loads((tmp_path / "runs" / "stratequeue.log").read_text().splitlines()[-1])
    assert entry["message"] == "hello"
    assert "--log-format [text|json]" in runner.invoke(cli, ["--help"]).output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_warnings_during_the_live_panel_are_printed_above_it_not_through_it(monkeypatch):
    from rich.console import Console
    from stratequeue.display import Display

    stderr = _Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(verbose=False, log_format="text", log_file=None)  # rich handler: a tty
    screen = io.StringIO()
    display = Display(
        mode_label="paper",
        broker_label="Paper",
        console=Console(file=screen, force_terminal=True, width=100),
    )
    panel = {"equity": 1.0, "cash": 1.0, "positions": 0, "strategies": (1, 1)}
    display.portfolio({**panel, "mode": "paper", "broker": "Paper"})
    logging.getLogger("stratequeue.trader").warning("feed for AAPL is stale")
    display.close()
    logging.getLogger("stratequeue.trader").warning("after the run")

    assert "feed for AAPL is stale" in screen.getvalue()  # through the live console
    assert "feed for AAPL is stale" not in stderr.getvalue()
    assert "after the run" in stderr.getvalue()


@pytest.mark.parametrize("verbose", [False, True])
def test_every_bar_is_logged_with_verbose_only(tmp_path: Path, verbose: bool):
    """A bar's OHLCV line costs more than the strategy's step: the file gets it with --verbose
    only. Orders and fills are in the file either way."""
    from backtesting.test import GOOG
    from stratequeue.cli.main import cli

    csv = tmp_path / "GOOG.csv"
    GOOG.iloc[:120].to_csv(csv)
    ledger = tmp_path / "ledger.sqlite"
    strategy = Path(__file__).parents[2] / "examples" / "strategies" / "sma.py"
    args = ["--db", str(ledger), *(["--verbose"] if verbose else []), "replay"]
    args += ["--strategy", str(strategy), "--data", str(csv), "--db", str(ledger)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "stratequeue.log").read_text()
    bar_lines = [line for line in text.splitlines() if ": bar GOOG " in line]
    assert len(bar_lines) == (120 if verbose else 0), text[-2000:]
    assert "stratequeue.portfolio.routing: order sq-" in text
    assert "stratequeue.portfolio.book_fills: book fill sq-" in text
