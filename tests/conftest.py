from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def stratequeue(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a user would."""
    exe = shutil.which("stratequeue", path=os.path.dirname(sys.executable)) or "stratequeue"
    full_env = {**os.environ, "TQDM_DISABLE": "1", **(env or {})}
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd or REPO
    )


def kill_when(proc: subprocess.Popen[bytes], landed: Callable[[], object], log: Path) -> object:
    """SIGKILL ``proc`` as soon as ``landed()`` is truthy; return what it saw then (the kill
    point is asserted: a run that ends first, or never gets there, fails the test)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the kill point:\n{log.read_text()}")
        seen = landed()
        if seen:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return seen
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the kill point was never reached")


@pytest.fixture(autouse=True, scope="session")
def _test_home(tmp_path_factory: pytest.TempPathFactory):
    """Runs started by these tests keep their logs and default ledger in a temporary StrateQueue
    home, never in the real ``~/.stratequeue`` of whoever runs the suite (a test that needs its
    own home still sets ``STRATEQUEUE_HOME`` itself, e.g. with the ``home`` fixture)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRATEQUEUE_HOME", str(tmp_path_factory.mktemp("stratequeue-home")))
        yield


@pytest.fixture
def run():
    return stratequeue


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATEQUEUE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
