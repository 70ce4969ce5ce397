"""The broker conformance kit, run against the fake Toy Exchange (`pytest -rs` lists the cases
skipped for capabilities the toy broker does not declare)."""

from __future__ import annotations

import pytest
from stratequeue.testing.conformance import *  # noqa: F403  (the kit's cases)
from stratequeue_toy.fake import FakeToyExchange
from stratequeue_toy.testing import ToyHarness


@pytest.fixture
def broker_harness():
    with FakeToyExchange() as fake:
        harness = ToyHarness(fake)
        yield harness
        harness.close()
