"""How many history bars a strategy needs before it trades, when its file does not say."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from .loader import LoadedStrategy
from .types import BacktestOptions

__all__ = ["default_lookback"]

log = logging.getLogger(__name__)


def default_lookback(
    loaded: LoadedStrategy, sample_frame: pd.DataFrame, params: dict[str, Any] | None = None
) -> int:
    """``loaded.lookback``, or the indicators' warm-up measured by ``init()`` on a sample.

    The result is the first bar Backtest.run would trade on plus one (at least 2). If the
    indicators never warm up on the sample, the sample's length is returned.
    """
    if loaded.lookback is not None:
        return loaded.lookback
    from .book import LiveBroker
    from .data import BarBuffer, LiveData
    from .shadow import build_shadow, warmup_start

    data = LiveData(BarBuffer.from_frame(sample_frame))
    broker = LiveBroker(data=data, index=pd.Index([]), **BacktestOptions(cash=1e12).kwargs())
    broker.setup_live(lambda: "sample")
    start = warmup_start(build_shadow(loaded.cls, broker, data, params or {}))
    bars = max(2, start + 1) if start is not None else len(sample_frame)
    log.warning(
        "%s defines no LOOKBACK; using %d bars of history (indicator warm-up on a %d-bar "
        "sample). Set LOOKBACK = N in the file to choose.",
        loaded.path.name,
        bars,
        len(sample_frame),
    )
    return bars
