"""What a data source is: history at start-up, then each closed bar once, in time order."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from ..errors import UsageError
from ..granularity import GRANULARITIES, Granularity
from ..models import Bar
from .live.filter import BarFilter  # re-exported: plugins and the trader import it here
from .live.values import utcnow

__all__ = ["BaseDataSource", "BarFilter", "DataSourceConfig", "bars_to_frame"]


@dataclass(frozen=True)
class DataSourceConfig:
    """What every data source is built with. ``env`` holds the environment (keys, URLs)."""

    granularity: Granularity
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    options: Mapping[str, object] = field(default_factory=dict)


class BaseDataSource(ABC):
    """A market-data provider.

    Subclasses set ``name`` and ``granularities``; they deliver ``history()`` for warm-up and
    ``stream()`` for live bars; ``self._clock()`` is the time now (``options["clock"]``
    replaces it in tests). ``stream`` is a blocking iterator that yields each CLOSED bar of
    the subscribed symbols once, in time order, and returns once :meth:`stop` is called
    (from any thread). Sources needing a key list it in ``env_vars`` and explain how to get it
    in :meth:`setup_instructions`.
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    granularities: ClassVar[tuple[str, ...]] = GRANULARITIES
    env_vars: ClassVar[tuple[str, ...]] = ()
    #: True for a source of recorded bars (a file): a run over it is a replay.
    historical: ClassVar[bool] = False
    #: True for a source of invented prices (the demo feed): never a live run's default.
    simulated: ClassVar[bool] = False

    def __init__(self, config: DataSourceConfig) -> None:
        """Raises:
        UsageError: ``config.granularity`` is not one of :attr:`granularities`.
        """
        if str(config.granularity) not in self.granularities:
            raise UsageError(
                f"The {self.display_name or self.name} data source does not offer "
                f"{config.granularity} bars. Use one of: {', '.join(self.granularities)}"
            )
        self.config = config
        clock = config.options.get("clock")
        #: the time now, aware UTC; ``options["clock"]`` replaces it (tests drive time by hand)
        self._clock: Callable[[], datetime] = clock if callable(clock) else utcnow
        self.granularity = config.granularity
        self._stop = threading.Event()

    @abstractmethod
    def history(self, symbol: str, bars: int) -> list[Bar]:
        """The last ``bars`` closed bars of ``symbol`` (oldest first); fewer if not available."""

    @abstractmethod
    def stream(self, symbols: Sequence[str]) -> Iterator[Bar]:
        """Yield closed bars as they complete, until :meth:`stop` is called."""

    def stop(self) -> None:
        """Ask :meth:`stream` to return; safe to call from another thread."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Release connections. Called once when the run ends."""
        self.stop()

    @classmethod
    def setup_instructions(cls) -> str:
        """How to get and set this source's credentials (``--data-setup NAME``)."""
        return f"The '{cls.name}' data source needs no setup."

    @classmethod
    def missing_env(cls, env: Mapping[str, str]) -> list[str]:
        """The variables of :attr:`env_vars` that ``env`` lacks (empty: ready)."""
        return [var for var in cls.env_vars if not env.get(var)]


def bars_to_frame(bars: Sequence[Bar]):  # -> pandas.DataFrame (pandas imported lazily)
    """Bars as backtesting.py's OHLCV DataFrame, indexed by UTC bar start time."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "Open": [b.open for b in bars],
            "High": [b.high for b in bars],
            "Low": [b.low for b in bars],
            "Close": [b.close for b in bars],
            "Volume": [b.volume for b in bars],
        },
        index=pd.DatetimeIndex([b.timestamp for b in bars], name="Date"),
        dtype=float,
    )
    names = dict.fromkeys(name for b in bars for name, _ in b.extra)
    for name in names:  # a source's further columns (a CSV's): NaN where a bar lacks one
        frame[name] = [dict(b.extra).get(name, float("nan")) for b in bars]
    return frame
