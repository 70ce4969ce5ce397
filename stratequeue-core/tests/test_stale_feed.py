"""A feed that goes quiet pauses trading on its symbol, says so, and resumes when bars return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from stratequeue import hookimpl, plugins
from stratequeue.cli import main
from stratequeue.data.base import BaseDataSource
from stratequeue.models import Bar

SMA = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "sma.py"


def _bar(symbol: str, when: datetime, price: float) -> Bar:
    return Bar(symbol, when, price, price * 1.001, price * 0.999, price, 100.0)


class GappyFeed(BaseDataSource):
    """Two bars a second apart, then silence for ~4 s, then two more bars."""

    name = "gappy"
    granularities = ("1s",)

    def history(self, symbol: str, bars: int) -> list[Bar]:
        now = self.granularity.floor(datetime.now(UTC))
        return [_bar(symbol, now - timedelta(seconds=bars - k), 100 + (k % 7)) for k in range(bars)]

    def stream(self, symbols):
        for pause in (1.0, 1.0, 4.5, 1.0, 1.0):
            if self._stop.wait(pause):
                return
            now = self.granularity.floor(datetime.now(UTC)) - timedelta(seconds=1)
            for symbol in symbols:
                yield _bar(symbol, now, 101.0)


class _Plugin:
    @hookimpl
    def register_data_sources(self, register):
        register("gappy", GappyFeed)


def test_a_stale_feed_pauses_trading_and_resumes(tmp_path, capsys):
    plugins.register_plugin(_Plugin(), name="gappy-test")
    main(
        [
            "--strategy",
            str(SMA),
            "--symbols",
            "GAP",
            "--data-source",
            "gappy",
            "--granularity",
            "1s",
            "--stale-after",
            "2",
            "--duration",
            "0.2",
            "--lookback",
            "40",
            "--db",
            str(tmp_path / "l.sqlite"),
        ]
    )
    out = capsys.readouterr().out
    assert "GAP: no bar for 2 periods of 1s; trading paused" in out
    assert "GAP: bars are back; trading resumed." in out
