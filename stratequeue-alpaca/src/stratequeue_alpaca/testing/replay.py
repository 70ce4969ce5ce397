"""Replay a CSV file through the REAL-broker code path, against the fake Alpaca.

``stratequeue replay`` with the paper broker lets the strategies' books decide every fill. This
replay instead runs what a live Alpaca run runs: orders sized at submission, sent through
alpaca-py to the fake, real fills polled back and applied to each strategy's book, fills of
other orders booked as EXTERNAL. The fake fills as backtesting.py does (``fill_mode="on_bar"``:
market orders at the next bar's open, limits and stops by its rules), so the trades can be
compared with ``Backtest.run``.

Deterministic by construction: each CSV bar is first pushed to the fake (the orders it reaches
fill there, stamped with the bar's time), and only then yielded to the run, whose portfolio
polls the fills (the broker runs with ``stream=False``: every bar polls) before the bar
reaches the strategies::

    with FakeAlpaca(fill_mode="on_bar", cash=10_000) as fake, fake_replay_source():
        with App(replay_config(fake, "data.csv", specs, symbol="SYNTH")) as app:
            app.execute()
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stratequeue import hookimpl, plugins
from stratequeue.app import RunConfig
from stratequeue.data.base import DataSourceConfig
from stratequeue.data.csv_source import CsvDataSource
from stratequeue.errors import UsageError
from stratequeue.hookspecs import Register
from stratequeue.models import Bar
from stratequeue.portfolio.config import StrategySpec

from . import FakeAlpaca

__all__ = ["SOURCE", "FakeReplaySource", "fake_replay_source", "replay_config"]

#: The data source's name, registered by :func:`fake_replay_source`.
SOURCE = "alpaca-fake-replay"
_PLUGIN = "stratequeue-alpaca-fake-replay"


class FakeReplaySource(CsvDataSource):
    """CSV bars that trade at the fake first. Options: ``path`` (as ``csv``) and ``fake``."""

    name = SOURCE
    display_name = "CSV file through the fake Alpaca"

    def __init__(self, config: DataSourceConfig) -> None:
        super().__init__(config)
        fake = config.options.get("fake")
        if not isinstance(fake, FakeAlpaca):
            raise UsageError(
                f"The {SOURCE} data source needs the running FakeAlpaca as option 'fake' "
                "(see stratequeue_alpaca.testing.replay.replay_config)."
            )
        self.fake = fake
        fake.exchange.bar_time = True

    def history(self, symbol: str, bars: int) -> list[Bar]:
        """Warm-up bars are past: the fake only learns the last price."""
        history = super().history(symbol, bars)
        if history:
            self.fake.exchange.set_price(symbol, history[-1].close)
            self.fake.exchange.clock = history[-1].timestamp
        return history

    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        for bar in super().stream(symbols):
            self.fake.push_bar(
                bar.symbol, bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume
            )
            yield bar


class _Plugin:
    @hookimpl
    def register_data_sources(self, register: Register) -> None:
        register(SOURCE, FakeReplaySource)


@contextmanager
def fake_replay_source() -> Iterator[None]:
    """Register the ``alpaca-fake-replay`` data source for the duration of the block."""
    plugins.register_plugin(_Plugin(), _PLUGIN)
    try:
        yield
    finally:
        plugins.unregister_plugin(_PLUGIN)


def replay_config(
    fake: FakeAlpaca,
    path: str | Path,
    strategies: Sequence[StrategySpec],
    *,
    symbol: str | Sequence[str],
    db: str | Path = ":memory:",
    lookback: int = 0,
    backtest_options: dict[str, Any] | None = None,
    **options: Any,
) -> RunConfig:
    """A replay of ``path`` (bars of ``symbol``; several symbols: a folder of one CSV file per
    symbol) with broker ``alpaca`` pointed at ``fake``; ``options``: more RunConfig fields."""
    if fake.exchange.fill_mode != "on_bar":
        raise UsageError(
            "A replay needs the fake to fill on the next bar: FakeAlpaca(fill_mode='on_bar')."
        )
    symbols = [symbol] if isinstance(symbol, str) else list(symbol)
    for name in symbols:
        if name.upper() not in fake.exchange.assets:
            fake.exchange.add_asset(name)
    return RunConfig(
        strategies=strategies,
        symbols=symbols,
        data_source=SOURCE,
        granularity="1d",
        mode="paper",
        broker="alpaca",
        broker_options={"stream": False, "retry_backoff": 0.01, "timeout": 5.0},
        lookback=lookback,
        db=db,
        backtest_options=dict(backtest_options or {}),
        data_options={"path": str(path), "fake": fake},
        env=fake.env(),
        replay=True,
        stale_after=0,
        **options,
    )
