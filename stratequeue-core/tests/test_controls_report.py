"""Operator controls in the report and on the live panel: an applied control is marked on
the account's curve and on its strategy's (not on the others'), and listed; the panel shows
paused strategies and tripped kill switches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stratequeue.display import _fields, paused_labels
from stratequeue.ledger import Ledger
from stratequeue.report import write_report


def day(n: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=n)


def test_applied_controls_are_marked_on_their_curves(tmp_path):
    db = tmp_path / "c.sqlite"
    ledger = Ledger(db)
    run_id = ledger.start_run(
        mode="paper", broker="paper", data_source="demo", granularity="1d", symbols=["X"],
        account_equity=150.0,
    )  # fmt: skip
    for n in range(4):
        ledger.snapshot(day(n), "A", 100.0 + n, 100.0 + n, [("X", 0.0, None, None)])
        ledger.snapshot(day(n), "B", 50.0, 50.0, [("X", 0.0, None, None)])
    paused = ledger.request_control("pause", "A")
    ledger.acknowledge_control(paused, run_id, day(1), "applied", "A paused")
    refused = ledger.request_control("allocate", "B", args={"fraction": 0.9})
    ledger.acknowledge_control(refused, run_id, day(2), "refused", "too much")
    ledger.request_control("flatten", "B")  # pending: not on a curve
    ledger.close()
    html = write_report(db, tmp_path / "r.html").path.read_text(encoding="utf-8")
    assert '"controls:Account"' in html and '"controls:A"' in html
    assert '"controls:B"' not in html
    assert "#1 pause: A paused" in html and '<table id="controls">' in html
    assert "too much" not in html


def test_the_panel_shows_pauses_and_kill_switches():
    assert paused_labels({("a", "AAPL"), ("a", "MSFT"), ("b", "AAPL")}, ["AAPL", "MSFT"]) == [
        "a",
        "b on AAPL",
    ]
    data = {
        "equity": 1.0, "cash": 1.0, "positions": 0, "strategies": (1, 2), "mode": "paper",
        "broker": "paper", "paused": ["a"], "killed": ["b"],
    }  # fmt: skip
    fields = dict(_fields(data))
    assert fields["Paused"] == "a" and fields["Kill Switch"] == "b"
    assert "Paused" not in dict(_fields({**data, "paused": [], "killed": []}))
