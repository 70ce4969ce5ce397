from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stratequeue_schwab.testing import FakeSchwab
from stratequeue_schwab.testing.harness import SchwabHarness


@pytest.fixture
def fake() -> Iterator[FakeSchwab]:
    with FakeSchwab() as server:
        yield server


@pytest.fixture
def harness(fake: FakeSchwab, tmp_path: Path) -> Iterator[SchwabHarness]:
    h = SchwabHarness(fake, tmp_path)
    yield h
    h.close()
