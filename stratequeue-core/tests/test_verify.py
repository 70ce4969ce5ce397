"""`stratequeue verify` on paper runs: replays and live-style runs (warm-up, then a flat start),
several strategies, restarts; each must verify IDENTICAL to its Backtest.run, and a ledger
whose trades do not follow from its bars must be caught as a bug."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from stratequeue import hookimpl, plugins
from stratequeue.app import App, RunConfig
from stratequeue.cli import main
from stratequeue.data.csv_source import CsvDataSource
from stratequeue.hookspecs import Register
from stratequeue.portfolio.config import StrategySpec
from test_replay_parity import DATA, EXAMPLES, FILES

SYMBOL = "SYNTH"


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(["verify", *args])
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def replay(tmp_path: Path, path: Path, frame: pd.DataFrame, cash: float, *extra: str) -> Path:
    csv = tmp_path / f"{SYMBOL}.csv"
    frame.to_csv(csv)
    db = tmp_path / "ledger.sqlite"
    main(["replay", "--strategy", str(path), "--data", str(csv), "--cash", str(cash),
          "--db", str(db), *extra])  # fmt: skip
    return db


CASES = [
    ("sma", EXAMPLES / "sma.py", "GOOG", ["--commission", "0.002"]),
    ("momentum", EXAMPLES / "momentum.py", "SYNTH", ["--commission", "1,0.001"]),
    ("random", FILES / "random_orders.py", "SYNTH", ["--warmup", "150", "--hedging"]),
    ("bracket", FILES / "bracket_breakout.py", "GOOG", ["--spread", "0.0008"]),
    ("mean_revert", EXAMPLES / "mean_revert.py", "GOOG", ["--margin", "0.5", "--warmup", "300"]),
    ("prepare_data", FILES / "prepared_cross.py", "GOOG", ["--commission", "0.001"]),
]


@pytest.mark.parametrize(("name", "path", "data", "extra"), CASES, ids=[c[0] for c in CASES])
def test_a_replay_verifies_identical(tmp_path, capsys, name, path, data, extra):
    frame, cash = DATA[data]
    db = replay(tmp_path, path, frame, cash, *extra)
    capsys.readouterr()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err
    assert f"{path.stem} [paper/replay (exact)]: IDENTICAL to its backtest" in out
    matched = out.split("trades matched ")[1].split(" ")[0]
    got, total = matched.split("/")
    assert got == total and int(total) > 0, out


class LiveCsv(CsvDataSource):
    """A CSV file, declared live: the warm-up is not adopted, the books start flat."""

    name = "csv-live"
    historical = False


class _Plugin:
    @hookimpl
    def register_data_sources(self, register: Register) -> None:
        register("csv-live", LiveCsv)


@pytest.fixture
def live_csv():
    plugins.register_plugin(_Plugin(), "verify-csv-live")
    yield
    plugins.unregister_plugin("verify-csv-live")


def live_config(csv: Path, db: Path, **changes: object) -> RunConfig:
    fields: dict[str, object] = {
        "strategies": [
            StrategySpec(FILES / "random_orders.py", "random", 0.5),
            StrategySpec(EXAMPLES / "sma.py", "sma", 0.3),
        ],
        "symbols": [SYMBOL],
        "data_source": "csv-live",
        "granularity": "1h",
        "broker": "paper",
        "lookback": 120,
        "cash": 50_000.0,
        "data_options": {"path": str(csv)},
        "backtest_options": {"commission": 0.001},
        "db": db,
        "stale_after": 0,
    }
    return RunConfig(**{**fields, **changes})  # type: ignore[arg-type]


def live_run(tmp_path: Path, frame: pd.DataFrame, cuts: list[int], **changes: object) -> Path:
    """A paper run over ``frame`` (by default not a replay: warm-up, then a flat start),
    stopped after each of ``cuts`` bars and restarted on the same ledger."""
    db = tmp_path / "live.sqlite"
    for k, end in enumerate([*cuts, len(frame)]):
        csv = tmp_path / f"part{k}.csv"
        frame.iloc[:end].to_csv(csv)
        with App(live_config(csv, db, **changes)) as app:
            app.execute()
    return db


def test_a_replay_with_restarts_verifies_identical(tmp_path, capsys):
    frame, _ = DATA["SYNTH"]
    db = live_run(tmp_path, frame, cuts=[350, 600], data_source="csv", replay=True)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3
    assert con.execute("SELECT MAX(flattened) FROM sleeves").fetchone()[0] == 0  # adopted
    con.close()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err
    assert "random [paper/replay (exact)]: IDENTICAL to its backtest" in out
    assert "sma [paper/replay (exact)]: IDENTICAL to its backtest" in out


def test_a_live_style_paper_run_with_restarts_verifies_identical(tmp_path, capsys, live_csv):
    frame, _ = DATA["SYNTH"]
    db = live_run(tmp_path, frame.iloc[:600], cuts=[300, 450])
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3
    assert con.execute("SELECT MIN(flattened) FROM sleeves").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(history_sha256) FROM sleeves").fetchone()[0] == 2
    kinds = [k for (k,) in con.execute("SELECT kind FROM run_events ORDER BY id")]
    assert kinds == ["start", "warm-start", "warm-start"]
    con.close()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err
    assert "random [paper/replay (exact)]: IDENTICAL to its backtest" in out
    assert "sma [paper/replay (exact)]: IDENTICAL to its backtest" in out
    code, out, _ = verify(
        capsys, "--db", str(db), "--strategy", "sma", "--out", str(tmp_path / "r.html")
    )
    assert code == 0 and "random" not in out
    page = (tmp_path / "r.html").read_text()
    assert "<h2>Verification</h2>" in page and "sma backtest" in page and "sma live" in page


def test_a_trade_that_does_not_follow_from_the_bars_is_a_bug(tmp_path, capsys):
    frame, cash = DATA["SYNTH"]
    db = replay(tmp_path, FILES / "random_orders.py", frame, cash)
    con = sqlite3.connect(db)
    (seq,) = con.execute(
        "SELECT seq FROM trades WHERE status='closed' ORDER BY seq LIMIT 1 OFFSET 6"
    ).fetchone()
    con.execute("UPDATE trades SET exit_price = exit_price + 0.01 WHERE seq=?", (seq,))
    con.commit()
    con.close()
    capsys.readouterr()
    code, out, _ = verify(capsys, "--db", str(db))
    assert code == 1, out
    assert "random_orders [paper/replay (exact)]: 1 UNEXPLAINED difference(s)" in out
    assert "[bug] SYNTH: BUG (a paper or replay run must equal its backtest): trade #7:" in out
    assert "trades matched 6/" in out


def test_a_strategy_file_changed_since_the_run_is_refused(tmp_path, capsys):
    frame, cash = DATA["GOOG"]
    path = tmp_path / "sma_copy.py"
    shutil.copy(EXAMPLES / "sma.py", path)
    db = replay(tmp_path, path, frame, cash)
    path.write_text(path.read_text().replace("slow = 20", "slow = 21"))
    capsys.readouterr()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 2
    assert err.count("\n") == 1 and f"{path} changed since the run" in err, err
    assert "restore that version" in err


def test_usage_errors_are_one_line_and_exit_2(tmp_path, capsys):
    frame, cash = DATA["GOOG"]
    db = replay(tmp_path, EXAMPLES / "sma.py", frame, cash)
    capsys.readouterr()
    code, _, err = verify(capsys, "--db", str(db), "--strategy", "nope")
    assert code == 2 and "Unknown strategy 'nope'" in err and "one of sma" in err
    empty = tmp_path / "empty.sqlite"
    from stratequeue.ledger import Ledger

    Ledger(empty).close()
    code, _, err = verify(capsys, "--db", str(empty))
    assert code == 2 and "holds no run" in err and err.count("\n") == 1
    code, _, err = verify(capsys, "--db", str(tmp_path / "missing.sqlite"))
    assert code == 2 and "No ledger at" in err


def test_a_ledger_written_before_schema_3_opens_and_verifies_with_defaults(tmp_path, capsys):
    frame, cash = DATA["GOOG"]
    db = replay(tmp_path, EXAMPLES / "sma.py", frame, cash)
    con = sqlite3.connect(db)  # back to what a StrateQueue of schema 2 wrote
    con.executescript(
        "DROP TABLE run_settings; DROP TABLE strategy_files; DROP TABLE run_events; "
        "ALTER TABLE sleeves DROP COLUMN history_sha256; ALTER TABLE runs DROP COLUMN extractor; "
        "ALTER TABLE bars DROP COLUMN received_at; "
        "UPDATE meta SET value='2' WHERE key='schema_version';"
    )
    con.close()
    capsys.readouterr()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err
    assert "sma [paper/replay (exact)]: IDENTICAL to its backtest" in out
    assert "kept no hash" in out and "defaults used" in out
    from stratequeue.ledger import SCHEMA_VERSION, Ledger

    ledger = Ledger(db)
    assert ledger.schema_version == SCHEMA_VERSION == 5
    assert ledger.run_settings() == {}
    ledger.close()


def test_a_risk_refusal_in_a_paper_run_explains_the_trades_after_it(tmp_path, capsys):
    frame, cash = DATA["SYNTH"]
    db = replay(tmp_path, EXAMPLES / "sma.py", frame, cash, "--max-position-value", "3000")
    capsys.readouterr()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err
    assert "sma [paper/replay (exact)]: every difference explained" in out
    assert "[risk] SYNTH: trade #" in out
    assert "refused: risk rule max_position_value" in out
    assert "the gap by cause: risk refusals / kill switch" in out
    assert "BUG" not in out


def test_positions_closed_at_the_runs_end_are_an_operator_action(tmp_path, capsys, live_csv):
    frame, _ = DATA["SYNTH"]
    csv = tmp_path / "bars.csv"
    frame.iloc[:400].to_csv(csv)
    db = tmp_path / "exit.sqlite"
    with App(live_config(csv, db, on_exit="flatten")) as app:
        app.execute()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err
    assert "every difference explained" in out
    assert "[operator] SYNTH:" in out and "closed at the run's end (--on-exit flatten)" in out
    assert "BUG" not in out


def test_an_unknown_symbol_is_a_usage_error(tmp_path, capsys):
    frame, cash = DATA["GOOG"]
    db = replay(tmp_path, EXAMPLES / "sma.py", frame, cash)
    capsys.readouterr()
    code, _, err = verify(capsys, "--db", str(db), "--symbol", "MSFT")
    assert code == 2 and "Unknown symbol 'MSFT'" in err and "one of SYNTH" in err
    code, out, _ = verify(capsys, "--db", str(db), "--symbol", "synth")
    assert code == 0 and "IDENTICAL" in out


def test_a_stale_feed_pause_and_its_resumption_are_kept_for_verify(tmp_path, capsys):
    from test_stale_feed import SMA as GAP_SMA
    from test_stale_feed import _Plugin as Gappy

    plugins.register_plugin(Gappy(), name="gappy-verify")
    db = tmp_path / "gap.sqlite"
    main(["--strategy", str(GAP_SMA), "--symbols", "GAP", "--data-source", "gappy",
          "--granularity", "1s", "--stale-after", "2", "--duration", "0.2", "--lookback", "40",
          "--db", str(db)])  # fmt: skip
    con = sqlite3.connect(db)
    kinds = [(k, s) for k, s in con.execute("SELECT kind, symbol FROM run_events ORDER BY id")]
    con.close()
    assert kinds == [("start", None), ("feed-paused", "GAP"), ("feed-resumed", "GAP")]
    capsys.readouterr()
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err


def _flat_fee(size: float, price: float) -> float:
    return 1.0


def test_a_commission_function_is_kept_as_what_it_was_and_refused(tmp_path, capsys):
    frame, _ = DATA["SYNTH"]
    db = live_run(
        tmp_path, frame.iloc[:300], cuts=[], data_source="csv", replay=True,
        backtest_options={"commission": _flat_fee},
    )  # fmt: skip
    code, _, err = verify(capsys, "--db", str(db))
    assert code == 2 and err.count("\n") == 1, err
    assert "Backtest option commission=<function _flat_fee" in err and "cannot keep" in err


LIVE_BARS, WARMUP = 40, 120


def recent_frame(now: datetime) -> pd.DataFrame:
    """Hourly bars whose last closed half an hour before ``now``: received now, every live bar
    but the last is more than an hour (one interval) after its close."""
    frame = DATA["SYNTH"][0].iloc[: WARMUP + LIVE_BARS].copy()
    base = now.replace(second=0, microsecond=0) - timedelta(minutes=30)
    frame.index = pd.DatetimeIndex(
        [base - timedelta(hours=len(frame) - k) for k in range(len(frame))], name=frame.index.name
    )
    return frame


def arrivals(db: Path) -> list[tuple[str, str | None]]:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT ts, received_at FROM bars ORDER BY ts").fetchall()
    con.close()
    return rows


def test_a_live_runs_bars_keep_when_they_came_and_late_ones_are_reported(
    tmp_path, capsys, live_csv
):
    before = datetime.now(UTC)
    frame = recent_frame(before)
    db = live_run(tmp_path, frame, cuts=[], lookback=WARMUP)
    after = datetime.now(UTC)
    rows = arrivals(db)
    assert len(rows) == WARMUP + LIVE_BARS
    assert [r for _, r in rows[:WARMUP]] == [None] * WARMUP  # the warm-up history never is late
    received = [datetime.fromisoformat(r) for _, r in rows[WARMUP:] if r is not None]
    assert len(received) == LIVE_BARS
    assert all(before <= t <= after for t in received) and received == sorted(received)
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err  # late bars are a finding, not an unexplained difference
    first_live = frame.index[WARMUP].to_pydatetime()
    worst = f"{first_live:%Y-%m-%d %H:%M}, "
    assert f"bars received {SYMBOL}: {LIVE_BARS} live" in out, out
    line = next(x for x in out.splitlines() if "late:" in x)
    assert line.startswith(
        f"  late: {LIVE_BARS - 1} bar(s) received more than 3600 s after their close (worst {worst}"
    ), line
    seconds = float(line.split(worst)[1].split(" s after")[0])
    close = first_live + timedelta(hours=1)
    # said to a tenth of a second
    assert (before - close).total_seconds() - 0.05 <= seconds
    assert seconds <= (after - close).total_seconds() + 0.05


def test_a_replay_keeps_no_arrival_time_and_says_nothing_of_late_bars(tmp_path, capsys):
    frame = recent_frame(datetime.now(UTC))
    db = live_run(tmp_path, frame, cuts=[], data_source="csv", replay=True, lookback=WARMUP)
    rows = arrivals(db)
    assert len(rows) == WARMUP + LIVE_BARS and {r for _, r in rows} == {None}
    code, out, err = verify(capsys, "--db", str(db))
    assert code == 0, out + err
    assert "bars received" not in out and "late:" not in out


def test_verify_counts_exactly_the_bars_received_more_than_an_interval_after_close(
    tmp_path, capsys, live_csv
):
    frame = recent_frame(datetime.now(UTC))
    recorded = live_run(tmp_path, frame, cuts=[], lookback=WARMUP)
    db = tmp_path / "edited.sqlite"
    source, con = sqlite3.connect(recorded), sqlite3.connect(db)
    source.backup(con)  # a copy with what the write-ahead log holds
    source.close()
    times = list(frame.index[WARMUP:])

    def arrive(k: int, seconds_after_close: float) -> None:
        ts = times[k].to_pydatetime()
        at = ts + timedelta(hours=1, seconds=seconds_after_close)
        done = con.execute(
            "UPDATE bars SET received_at=? WHERE ts=?", (at.isoformat(), ts.isoformat())
        )
        assert done.rowcount == 1

    for k in range(LIVE_BARS):
        arrive(k, 2.5)  # on time
    con.commit()
    code, out, _ = verify(capsys, "--db", str(db))
    assert code == 0
    assert f"bars received {SYMBOL}: {LIVE_BARS} live\n  none late (each within 3600 s" in out
    arrive(5, 3600)  # exactly one interval after its close: not late
    arrive(12, 3601)
    arrive(30, 7205.5)
    con.commit()
    con.close()
    code, out, _ = verify(capsys, "--db", str(db))
    assert code == 0
    worst = times[30].to_pydatetime()
    assert (
        f"bars received {SYMBOL}: {LIVE_BARS} live\n  late: 2 bar(s) received more than 3600 s "
        f"after their close (worst {worst:%Y-%m-%d %H:%M}, 7205.5 s after its close)\n"
    ) in out, out


def test_the_instruments_tick_is_read_from_the_vendors_prices():
    from datetime import UTC, datetime

    from stratequeue.models import Bar
    from stratequeue.verify.drift import instrument_tick

    def bars(*prices: float) -> list[Bar]:
        t = datetime(2024, 1, 2, tzinfo=UTC)
        return [Bar("X", t, p, p, p, p, 1.0) for p in prices]

    assert instrument_tick(bars(187.25, 188.1, 190.0)) == 0.01  # a US stock
    assert instrument_tick(bars(1.08541, 1.0855)) == 10.0**-5  # a five-digit FX quote
    assert instrument_tick(bars(64_210.0, 64_300.0)) == 1.0  # whole prices
    assert instrument_tick(bars(0.5, float("nan"))) == 0.1
