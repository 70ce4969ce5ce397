"""The market-data plugins end to end, through the installed console script: a paper run on
each source against its fake vendor server (started in this process), and what a user
meets when the key is missing, when asking for setup help or for a granularity the vendor
does not have.

CoinMarketCap's finest bar is 1m and the minute under way when a run starts is never
emitted, so a run sees its first live bar 60-125 s after it starts, depending on the
second it starts in. That run is therefore started in the background as soon as this
module's first test runs (the ``cmc_run`` fixture, used by every test here), the other
tests run meanwhile, and ``test_coinmarketcap_paper_run`` (last) stops it with SIGTERM,
as a service manager would, once both symbols have had a live bar.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import stratequeue

pytest.importorskip("stratequeue_polygon.testing")
pytest.importorskip("stratequeue_cmc.testing")

from stratequeue_cmc.testing import FakeCoinMarketCap  # noqa: E402
from stratequeue_polygon.testing import FakePolygon  # noqa: E402

POLYGON_KEY = "pk-E2E-polygon-5ecret-7f3a91"
CMC_KEY = "cmc-E2E-5ecret-c0ffee-42d1"
LOOKBACK = 3

#: Trades every few bars, so live bars visibly reach it (signals, fills).
STRATEGY = f"""
from backtesting import Strategy

LOOKBACK = {LOOKBACK}


class Flip(Strategy):
    def init(self):
        pass

    def next(self):
        if len(self.data) % 3 == 0:
            if self.position:
                self.position.close()
            else:
                self.buy(size=0.1)
"""

#: Vendor variables of the developer's shell must not leak into these runs.
CLEAN = {
    var: ""
    for var in (
        "POLYGON_API_KEY",
        "POLYGON_BASE_URL",
        "POLYGON_WS_URL",
        "CMC_API_KEY",
        "CMC_BASE_URL",
        "CMC_POLL_SECONDS",
    )
}


def _strategy_file(folder: Path) -> Path:
    path = folder / "flip.py"
    path.write_text(STRATEGY)
    return path


def _exe() -> str:
    return shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"


def _ledger_bytes(db: Path) -> bytes:
    """The ledger and its journal files, as they lie on disk."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def _live_bars(db: Path) -> dict[str, int]:
    """Bars per symbol stamped after the run started (history bars are older)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        run = con.execute("SELECT started_at FROM runs ORDER BY run_id DESC").fetchone()
        if run is None:
            return {}
        rows = con.execute(
            "SELECT symbol, COUNT(*) FROM bars WHERE ts > ? GROUP BY symbol", run
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def _bars_processed(stdout: str) -> int:
    match = re.search(
        r"Run ended: (duration reached|stopped|SIGTERM); (\d+) bars processed", stdout
    )
    assert match, stdout
    return int(match[2])


def _assert_clean_run(out: subprocess.CompletedProcess[str], key: str, db: Path) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    assert key not in out.stdout and key not in out.stderr
    assert key.encode() not in _ledger_bytes(db)


# -- CoinMarketCap, in the background ------------------------------------------------------


@dataclass
class BackgroundRun:
    process: subprocess.Popen[str]
    stdout_path: Path
    stderr_path: Path
    db: Path

    def stop_when_live(self, symbols: set[str], timeout: float) -> None:
        """SIGTERM the run once every symbol has a live bar in the ledger."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                seen = set(_live_bars(self.db))
            except sqlite3.Error:  # mid-write; look again
                seen = set()
            if symbols <= seen:
                time.sleep(0.5)
                self.process.send_signal(signal.SIGTERM)
                return
            time.sleep(0.5)

    def wait(self, timeout: float) -> subprocess.CompletedProcess[str]:
        self.process.wait(timeout)
        return subprocess.CompletedProcess(
            self.process.args,
            self.process.returncode,
            self.stdout_path.read_text(),
            self.stderr_path.read_text(),
        )


@pytest.fixture(scope="module", autouse=True)
def cmc_run(tmp_path_factory) -> Iterator[BackgroundRun]:
    folder = tmp_path_factory.mktemp("cmc")
    strategy = _strategy_file(folder)
    with FakeCoinMarketCap(CMC_KEY, live=True, update_seconds=1, plan_rate_limit=120) as fake:
        fake.seed(["BTC", "ETH"])
        db = folder / "ledger.sqlite"
        env = {
            **os.environ,
            **CLEAN,
            **fake.env,
            "CMC_POLL_SECONDS": "1",
            "TQDM_DISABLE": "1",
            "STRATEQUEUE_HOME": str(folder / "home"),
        }
        with (folder / "stdout.txt").open("w") as so, (folder / "stderr.txt").open("w") as se:
            process = subprocess.Popen(
                [_exe(), "--strategy", str(strategy), "--symbols", "BTC,ETH",
                 "--data-source", "coinmarketcap", "--paper", "--duration", "2.5",
                 "--db", str(db), "--verbose"],
                stdout=so, stderr=se, text=True, env=env, cwd=folder,
            )  # fmt: skip
        run = BackgroundRun(process, folder / "stdout.txt", folder / "stderr.txt", db)
        try:
            yield run
        finally:
            if process.poll() is None:  # the test did not collect it (deselected or failed)
                process.terminate()
                process.wait(10)


# -- Polygon -------------------------------------------------------------------------------


def test_polygon_paper_run(tmp_path):
    strategy = _strategy_file(tmp_path)
    db = tmp_path / "ledger.sqlite"
    with FakePolygon(POLYGON_KEY, live=True, history_seconds=120) as fake:
        fake.seed_history("AAPL")
        out = stratequeue(
            "--strategy", str(strategy), "--symbols", "AAPL", "--data-source", "polygon",
            "--paper", "--granularity", "1s", "--duration", "0.25", "--db", str(db), "--verbose",
            env={**CLEAN, **fake.env}, cwd=tmp_path, timeout=90,
        )  # fmt: skip
        assert fake.ws_auth_attempts >= 1  # live bars came over the websocket
    _assert_clean_run(out, POLYGON_KEY, db)
    assert "using the local paper broker" in out.stdout
    assert _live_bars(db).get("AAPL", 0) >= 5, out.stderr[-3000:]
    assert _bars_processed(out.stdout) >= 5
    assert "FILL AAPL" in out.stdout  # the strategy traded on them
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM fills WHERE symbol='AAPL'").fetchone()[0] >= 1


# -- what a user meets without a key, asking for help, or for an impossible bar --------------

SOURCES = [
    pytest.param("polygon", "POLYGON_API_KEY", "https://polygon.io", "AAPL", id="polygon"),
    pytest.param(
        "coinmarketcap", "CMC_API_KEY", "https://coinmarketcap.com/api", "BTC,ETH", id="cmc"
    ),
]


@pytest.mark.parametrize(("source", "var", "url", "symbols"), SOURCES)
def test_missing_key_is_one_line_naming_the_variable(tmp_path, source, var, url, symbols):
    out = stratequeue(
        "--strategy", str(_strategy_file(tmp_path)), "--symbols", symbols,
        "--data-source", source, "--paper", "--db", str(tmp_path / "ledger.sqlite"),
        env={**CLEAN, "STRATEQUEUE_HOME": str(tmp_path / "home")}, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode != 0
    assert "Traceback" not in out.stdout + out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert var in lines[0] and url in lines[0] and f"--data-setup {source}" in lines[0]


@pytest.mark.parametrize(("source", "var", "url", "symbols"), SOURCES)
def test_data_setup_prints_the_instructions(tmp_path, source, var, url, symbols):
    unset = stratequeue("--data-setup", source, env=CLEAN, cwd=tmp_path)
    assert unset.returncode == 0, unset.stderr
    assert f"export {var}=" in unset.stdout and url in unset.stdout
    assert f"Not set: {var}" in unset.stdout
    key = POLYGON_KEY if source == "polygon" else CMC_KEY
    is_set = stratequeue("--data-setup", source, env={**CLEAN, var: key}, cwd=tmp_path)
    assert f"Set: {var}" in is_set.stdout and key not in is_set.stdout + is_set.stderr


def test_list_granularities_shows_each_source(tmp_path):
    out = stratequeue("--list-granularities", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {
        cells[0]: cells[1]
        for line in out.stdout.splitlines()
        if len(cells := [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]) == 2
    }
    assert rows["polygon"] == "1s, 1m, 5m, 15m, 1h, 1d"
    assert rows["coinmarketcap"] == rows["cmc"] == "1m, 5m, 15m, 30m, 1h, 1d"


@pytest.mark.parametrize(
    ("source", "granularity", "symbols", "allowed"),
    [
        ("polygon", "30m", "AAPL", "1s, 1m, 5m, 15m, 1h, 1d"),
        ("coinmarketcap", "1s", "BTC", "1m, 5m, 15m, 30m, 1h, 1d"),
    ],
)
def test_unsupported_granularity_is_one_line(tmp_path, source, granularity, symbols, allowed):
    out = stratequeue(
        "--strategy", str(_strategy_file(tmp_path)), "--symbols", symbols,
        "--data-source", source, "--granularity", granularity,
        "--db", str(tmp_path / "ledger.sqlite"),
        env={**CLEAN, "POLYGON_API_KEY": POLYGON_KEY, "CMC_API_KEY": CMC_KEY}, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert granularity in lines[0] and allowed in lines[0]


# -- CoinMarketCap: collect the background run (last, so the rest ran meanwhile) -----------


def test_coinmarketcap_paper_run(cmc_run):
    cmc_run.stop_when_live({"BTC", "ETH"}, timeout=150)
    out = cmc_run.wait(timeout=30)
    _assert_clean_run(out, CMC_KEY, cmc_run.db)
    assert "using the local paper broker" in out.stdout
    live = _live_bars(cmc_run.db)
    assert live.get("BTC", 0) >= 1 and live.get("ETH", 0) >= 1, (live, out.stderr[-3000:])
    assert _bars_processed(out.stdout) >= 2
    # 1m has no CoinMarketCap history: said once, with how long the warm-up takes
    notices = [line for line in out.stderr.splitlines() if "warming the strategy up" in line]
    assert len(notices) == 1 and f"{LOOKBACK} bars of 1m" in notices[0]
