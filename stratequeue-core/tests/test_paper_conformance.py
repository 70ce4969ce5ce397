"""The broker conformance kit run on the paper broker (see stratequeue.testing.paper for how
its venue actions map onto a simulated, book-priced broker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stratequeue.testing.conformance import *  # noqa: F403
from stratequeue.testing.paper import PaperHarness


@pytest.fixture
def broker_harness(tmp_path: Path) -> Iterator[PaperHarness]:
    harness = PaperHarness(tmp_path / "paper-account.sqlite")
    yield harness
    harness.close()
