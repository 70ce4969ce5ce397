"""`stratequeue verify --data-source polygon`: the bars a run received against the fake
Polygon's history of the same period (the polygon plugin's own REST client asks it): a bar the
run never received and a bar whose close differs are found, and the backtest on the vendor's
bars is said next to the one on the bars received."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("stratequeue_polygon.testing")
from stratequeue.app import App, RunConfig  # noqa: E402
from stratequeue.portfolio.config import StrategySpec  # noqa: E402
from stratequeue_polygon.testing import FakePolygon  # noqa: E402

from .conftest import EXAMPLES, stratequeue  # noqa: E402

KEY = "pk-verify-drift-5ecret-1c2d"
START = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)  # 9:30 New York, a Monday
N = 300
MISSING = 200  # the bar the run never received
CHANGED = 150  # the bar whose close the vendor has 0.5 higher
LATE = 100  # the bar that came late


def minute_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.002, N))), 2)
    open_ = np.round(np.r_[close[0], close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + 0.05, 2)
    low = np.round(np.minimum(open_, close) - 0.05, 2)
    index = pd.date_range(START, periods=N, freq="min", name="Date")
    volume = rng.integers(100, 900, N).astype(float)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index
    )


def recorded_run(tmp_path: Path, frame: pd.DataFrame) -> Path:
    """A replay of the minute bars the run received (one of them never came)."""
    csv = tmp_path / "AAPL.csv"
    frame.drop(frame.index[MISSING]).to_csv(csv)
    db = tmp_path / "ledger.sqlite"
    config = RunConfig(
        strategies=[StrategySpec(EXAMPLES / "strategies" / "sma.py", "sma", 1.0)],
        symbols=["AAPL"],
        data_source="csv",
        granularity="1m",
        broker="paper",
        lookback=40,
        db=db,
        cash=10_000.0,
        data_options={"path": str(csv)},
        replay=True,
        stale_after=0,
    )
    with App(config) as app:
        app.execute()
    return db


def test_a_missing_bar_and_a_different_close_are_found_against_the_fake_polygon(tmp_path):
    frame = minute_frame()
    db = recorded_run(tmp_path, frame)
    vendor = frame.copy()
    vendor.iloc[CHANGED, vendor.columns.get_loc("Close")] += 0.5
    vendor.iloc[CHANGED, vendor.columns.get_loc("High")] += 0.5
    with FakePolygon(KEY) as fake:
        fake.add_bars(
            "AAPL",
            60,
            [
                (ts.to_pydatetime(), r.Open, r.High, r.Low, r.Close, r.Volume)
                for ts, r in zip(vendor.index, vendor.itertuples(), strict=True)
            ],
        )
        done = stratequeue(
            "verify", "--db", str(db), "--data-source", "polygon",
            env=fake.env,
        )  # fmt: skip
        out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "sma [paper/replay (exact)]: IDENTICAL to its backtest" in out
    assert f"data drift AAPL vs polygon: {N - 1} bars received, {N} in the vendor's history" in out
    missing = START + timedelta(minutes=MISSING)
    assert f"missing: 1 bar(s) never received ({missing:%Y-%m-%d %H:%M})" in out, out
    changed = START + timedelta(minutes=CHANGED)
    assert "prices differ by more than a tick (0.01): 1 bar(s)" in out
    assert f"{changed:%Y-%m-%d %H:%M}: high" in out and "close" in out
    assert "volumes differ" not in out and "not in the vendor's history" not in out
    assert "sma: a backtest on the vendor's bars makes" in out


def test_a_late_bar_is_said_in_the_data_drift_section(tmp_path):
    frame = minute_frame()
    db = recorded_run(tmp_path, frame)  # a replay: no bar keeps an arrival time ...
    late = START + timedelta(minutes=LATE)
    con = sqlite3.connect(db)  # ... but this one came 125 s after its close (1 minute after)
    done = con.execute(
        "UPDATE bars SET received_at=? WHERE ts=?",
        ((late + timedelta(seconds=60 + 125)).isoformat(), late.isoformat()),
    )
    assert done.rowcount == 1
    con.commit()
    con.close()
    with FakePolygon(KEY) as fake:
        fake.add_bars(
            "AAPL",
            60,
            [
                (ts.to_pydatetime(), r.Open, r.High, r.Low, r.Close, r.Volume)
                for ts, r in zip(frame.index, frame.itertuples(), strict=True)
            ],
        )
        done = stratequeue("verify", "--db", str(db), "--data-source", "polygon", env=fake.env)
        out = done.stdout + done.stderr
    assert done.returncode == 0, out
    drift = out.split("data drift AAPL vs polygon:")[1]
    assert (
        f"  late: 1 bar(s) received more than 60 s after their close "
        f"(worst {late:%Y-%m-%d %H:%M}, 125.0 s after its close)\n"
    ) in drift, out
    assert "bars received AAPL" not in out  # said once, in the drift section
