"""The application object: its steps come in one order, a refused live run sends nothing,
replay is the configuration's field (derived from the data source's class), and the SIGTERM
handler it installs for a run is the caller's again afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from stratequeue import hookimpl, plugins
from stratequeue.app import App, LifecycleError, NotConfirmed, RunConfig, replays
from stratequeue.brokers import choose_broker
from stratequeue.brokers.base import CredentialStatus, OrderAck
from stratequeue.brokers.paper import PaperBroker
from stratequeue.cli import main
from stratequeue.data.base import BaseDataSource
from stratequeue.data.csv_source import CsvDataSource
from stratequeue.errors import UsageError
from stratequeue.models import Bar, BrokerOrder
from stratequeue.portfolio.config import StrategySpec

BURST = Path(__file__).parent / "portfolio_files" / "burst.py"  # 3 limit orders every bar
SYMBOL = "SYNTH"


def write_bars(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame(
        {"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close, "Volume": 1e3},
        index=pd.date_range("2023-01-02", periods=n, freq="D", name="Date"),
    )
    frame.to_csv(path)
    return path


class LivePaper(PaperBroker):
    """The paper broker, declaring live credentials, counting what it is sent."""

    name = "live-paper"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[BrokerOrder] = []

    @classmethod
    def credential_status(cls, env: Any) -> CredentialStatus:
        return CredentialStatus(paper=True, live=True, detail="test")

    def submit_order(self, order: BrokerOrder) -> OrderAck:
        self.sent.append(order)
        return super().submit_order(order)


class LiveCsv(CsvDataSource):
    """A CSV file, declared live: not a replay."""

    name = "csv-live"
    historical = False


class Tape(CsvDataSource):
    """Recorded bars under a name that says nothing about files: a replay."""

    name = "tape"
    historical = True


class Sigterm(BaseDataSource):
    """Five bars; after the second, SIGTERM to this process. Records the handler it saw."""

    name = "sigterm"
    handler: Any = None

    def history(self, symbol: str, bars: int) -> list[Bar]:
        return []

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        for k in range(5):
            if self.stopped:
                return
            Sigterm.handler = signal.getsignal(signal.SIGTERM)
            ts = pd.Timestamp("2023-01-02", tz="UTC").to_pydatetime() + pd.Timedelta(days=k)
            yield Bar(symbols[0], ts, 100.0, 101.0, 99.0, 100.0, 1e3)
            if k == 1:
                os.kill(os.getpid(), signal.SIGTERM)


class Durable(BaseDataSource):
    """Live bars; before each next bar, reads the ledger file as a restarted process would."""

    name = "durable"
    seen: list[tuple[int, int]] = []

    def history(self, symbol: str, bars: int) -> list[Bar]:
        return []

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        start = pd.Timestamp.now(tz="UTC").floor("min").to_pydatetime() - pd.Timedelta(hours=1)
        for k in range(4):
            if k:
                with sqlite3.connect(self.config.options["db"]) as db:
                    Durable.seen.append(
                        (
                            db.execute("SELECT COUNT(*) FROM bars").fetchone()[0],
                            db.execute("SELECT COUNT(*) FROM equity").fetchone()[0],
                        )
                    )
            close = 100.0 + k
            yield Bar(symbols[0], start + pd.Timedelta(minutes=k), close, close, close, close, 1e3)


class _Plugin:
    @hookimpl
    def register_brokers(self, register: Any) -> None:
        register("live-paper", LivePaper)

    @hookimpl
    def register_data_sources(self, register: Any) -> None:
        register("csv-live", LiveCsv)
        register("tape", Tape)
        register("sigterm", Sigterm)
        register("durable", Durable)


@pytest.fixture(autouse=True)
def _plugin() -> None:
    plugins.register_plugin(_Plugin(), name="test-app")


def config(csv: Path, **changes: Any) -> RunConfig:
    fields: dict[str, Any] = {
        "strategies": [StrategySpec(BURST, "burst", 1.0)],
        "symbols": [SYMBOL],
        "data_source": "csv",
        "granularity": "1d",
        "broker": "paper",
        "lookback": 5,
        "data_options": {"path": str(csv)},
        "stale_after": 0,
    }
    return RunConfig(**{**fields, **changes})


def test_the_steps_refuse_to_come_out_of_order(tmp_path):
    app = App(config(write_bars(tmp_path / "bars.csv"), replay=True))
    with pytest.raises(LifecycleError, match="the run is 'new'"):
        app.run()
    app.build()
    with pytest.raises(LifecycleError, match=r"App.run\(\) cannot come now: the run is 'built'"):
        app.run()
    with pytest.raises(LifecycleError, match="needs 'confirmed'"):
        app.start()  # a start must follow the confirmation, even where it asks nothing
    app.confirm()
    with pytest.raises(LifecycleError, match="needs 'started'"):
        app.run()
    assert app.bars_seen == 0
    with pytest.raises(LifecycleError, match="never started"):
        app.summary()
    app.start()
    assert app.run() == "feed ended"
    assert app.bars_seen == 35
    summary = app.summary()
    assert (summary.reason, summary.bars, len(summary.strategies)) == ("feed ended", 35, 1)
    with pytest.raises(LifecycleError, match="the run is 'ran'"):
        app.run()
    app.close()
    assert [tuple(r) for r in app.ledger.db.execute("SELECT end_reason FROM runs")] == [
        ("feed ended",)
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "real"}, "Unknown mode 'real'"),
        ({"on_exit": "sell"}, "Unknown on_exit 'sell'"),
        ({"symbols": []}, "at least one symbol"),
        ({"cash": 0.0}, "cash 0: give a positive amount"),
        ({"stale_after": -1}, "stale_after -1"),
        ({"replay": True, "mode": "live"}, "replays recorded bars: it cannot trade real money"),
    ],
)
def test_a_config_names_what_is_wrong(tmp_path, change, message):
    with pytest.raises(UsageError, match=message):
        config(tmp_path / "bars.csv", **change)
    frozen = config(tmp_path / "bars.csv")
    with pytest.raises(AttributeError):
        frozen.replay = True  # type: ignore[misc]


@pytest.mark.parametrize("answer", ["refuse", "raise"])
def test_a_refused_live_run_sends_nothing_and_ends_not_started(tmp_path, answer):
    csv = write_bars(tmp_path / "bars.csv")
    seen: list[tuple[str, str]] = []

    def confirm(account: Any, broker: str) -> bool:
        seen.append((account.account_id, broker))
        if answer == "raise":
            raise KeyboardInterrupt
        return False

    live = config(csv, mode="live", broker="live-paper", db=tmp_path / "ledger.sqlite")
    app = App(live)
    expected = NotConfirmed if answer == "refuse" else KeyboardInterrupt
    with pytest.raises(expected):
        app.execute(confirm)
    assert seen == [("PAPER-LOCAL", "live-paper")]
    assert app.phase == "closed" and not app.started
    assert isinstance(app.broker, LivePaper) and app.broker.sent == []
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        assert db.execute("SELECT end_reason FROM runs").fetchall() == [("not started",)]
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone() == (0,)

    # the same run, confirmed: the warm-up's three limit orders are sent at start
    again = App(config(csv, mode="live", broker="live-paper", db=tmp_path / "other.sqlite"))
    with again:
        again.build()
        again.confirm(lambda account, broker: True)
        again.start()
        assert isinstance(again.broker, LivePaper) and len(again.broker.sent) == 3


def test_a_live_run_without_a_confirm_callback_does_not_start(tmp_path):
    app = App(config(write_bars(tmp_path / "bars.csv"), mode="live", broker="live-paper"))
    with pytest.raises(LifecycleError, match="needs a confirmation"):
        app.execute()
    assert isinstance(app.broker, LivePaper) and app.broker.sent == []


def sleeve_flattened(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT flattened FROM sleeves").fetchone()[0]


def test_replay_is_the_configurations_field_not_the_sources_name(tmp_path):
    csv = write_bars(tmp_path / "bars.csv")
    assert replays("csv") and replays("tape")
    assert not replays("csv-live") and not replays("demo")
    # the csv source, configured live: the warm-up is not adopted (the book starts flat)
    with App(config(csv, replay=False, db=tmp_path / "live.sqlite")) as app:
        app.execute()
    assert sleeve_flattened(tmp_path / "live.sqlite") == 1
    with App(config(csv, replay=True, db=tmp_path / "replay.sqlite")) as app:
        app.execute()
    assert sleeve_flattened(tmp_path / "replay.sqlite") == 0


@pytest.mark.parametrize(("source", "flattened"), [("csv-live", 1), ("tape", 0)])
def test_the_command_takes_replay_from_the_data_source_class(tmp_path, source, flattened):
    csv = write_bars(tmp_path / "bars.csv")
    db = tmp_path / "ledger.sqlite"
    main(
        ["--strategy", str(BURST), "--symbols", SYMBOL, "--data-source", source, "--data",
         str(csv), "--granularity", "1d", "--lookback", "5", "--db", str(db), "--stale-after", "0"]
    )  # fmt: skip
    assert sleeve_flattened(db) == flattened


def test_the_sigterm_handler_is_the_callers_again_after_the_run(tmp_path):
    def before(signum: int, frame: Any) -> None:
        raise AssertionError("the caller's handler ran during the run")

    previous = signal.signal(signal.SIGTERM, before)
    try:
        app = App(config(tmp_path / "none.csv", data_source="sigterm", lookback=0))
        with app:
            assert app.execute() == "SIGTERM"
        assert app.bars_seen == 2
        assert Sigterm.handler is not before  # the app's own, during the run
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_app_off_the_main_thread_leaves_signals_alone(tmp_path):
    csv = write_bars(tmp_path / "bars.csv")
    result: list[object] = []

    def work() -> None:
        try:
            with App(config(csv, replay=True)) as app:
                result.append(app.execute())
        except BaseException as exc:  # surfaced below
            result.append(exc)

    handler = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert result == ["feed ended"]
    assert signal.getsignal(signal.SIGTERM) is handler


class OtherLivePaper(LivePaper):
    name = "other-live-paper"


def test_several_brokers_with_credentials_and_none_chosen_is_the_users_choice():
    plugins.register_plugin(_Other(), name="test-app-other")
    try:
        with pytest.raises(UsageError, match=r"\(live-paper, other-live-paper\): pass --broker"):
            choose_broker("paper", None, {})
        with pytest.raises(UsageError, match=r"\(live-paper, other-live-paper\): pass --broker"):
            choose_broker("live", None, {})
        assert choose_broker("paper", "other-live-paper", {}) == ("other-live-paper", None)
    finally:
        plugins.unregister_plugin("test-app-other")
    assert choose_broker("paper", None, {}) == ("live-paper", None)


class _Other:
    @hookimpl
    def register_brokers(self, register: Any) -> None:
        register("other-live-paper", OtherLivePaper)


def test_a_live_bar_is_in_the_ledger_file_before_the_next_one_is_awaited(tmp_path):
    db = tmp_path / "ledger.sqlite"
    Durable.seen = []
    cfg = config(
        tmp_path / "unused.csv", data_source="durable", granularity="1m", lookback=0, db=db
    )
    cfg = replace(cfg, data_options={"db": str(db)})
    with App(cfg) as app:
        app.execute()
    assert Durable.seen == [(1, 1), (2, 2), (3, 3)]
