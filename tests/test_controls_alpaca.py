"""Operator controls against the fake Alpaca (the real alpaca-py pointed at 127.0.0.1): a
paused strategy sends nothing after the acknowledged bar while the other trades on, and a
flatten closes the position at the broker through the normal order path."""

from __future__ import annotations

import pytest

from .test_controls_e2e import (
    EVERY,
    HOLD,
    ack,
    active,
    control,
    last_control,
    orders_of,
    rows,
    start,
    stop,
    wait_bars,
    wait_until,
)

pytest.importorskip("stratequeue_alpaca")
from stratequeue.data.demo import _Walk  # noqa: E402
from stratequeue_alpaca.testing import FakeAlpaca  # noqa: E402

from .test_alpaca_e2e import env_for, fake_position  # noqa: E402


@pytest.fixture
def fake():
    with FakeAlpaca() as server:
        server.exchange.set_price("AAPL", round(_Walk("AAPL", 1).price, 2))
        yield server


def held(db, strategy: str) -> float:
    """The strategy's AAPL quantity from the broker's fills attributed to it."""
    return float(
        rows(
            db,
            "SELECT COALESCE(SUM(qty), 0) FROM fill_allocations WHERE strategy_id=? "
            "AND symbol='AAPL'",
            (strategy,),
        )[0][0]
    )


def test_pause_and_flatten_on_the_fake_alpaca(fake, tmp_path):
    db = tmp_path / "alpaca.sqlite"
    strategies = tmp_path / "strategies.txt"
    strategies.write_text(f"{EVERY},a,0.4\n{HOLD},h,0.4\n")
    proc = start(db, "--strategies", str(strategies), env=env_for(fake))
    try:
        wait_until(lambda: active(db) and held(db, "h") == 1, "h holding a share at Alpaca", 60)
        out = control(db, "pause", "a")
        assert out.returncode == 0, out.stdout + out.stderr
        paused = ack(db, last_control(db))
        assert paused["status"] == "applied"
        assert control(db, "pause", "h").returncode == 0
        out = control(db, "flatten", "h")
        assert out.returncode == 0 and "closing h +1 AAPL" in out.stdout, out.stdout + out.stderr
        wait_bars(db, 4)
        assert orders_of(db, "a", str(paused["bar_time"])) == []
        assert orders_of(db, "a", str(paused["bar_time"]), refused=True)
        wait_until(lambda: held(db, "h") == 0 and held(db, "a") == 0, "both flat at Alpaca", 30)
        assert fake_position(fake, "AAPL") == 0
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
