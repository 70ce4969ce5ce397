from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


@pytest.fixture
def run():
    return stratequeue


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATEQUEUE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
