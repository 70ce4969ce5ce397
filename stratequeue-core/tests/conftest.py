from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch):
    """Each test sees a freshly built plugin manager."""
    from stratequeue import plugins

    monkeypatch.setenv("STRATEQUEUE_HOME", os.environ.get("PYTEST_TMP_HOME", "/tmp/sq-test-home"))
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
