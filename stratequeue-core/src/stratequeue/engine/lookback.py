"""How many history bars a strategy needs before it trades, when its file does not say."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from .loader import LoadedStrategy
from .types import BacktestOptions

__all__ = ["default_lookback"]

log = logging.getLogger(__name__)


def measured_warmup(
    loaded: LoadedStrategy, sample_frame: pd.DataFrame, params: dict[str, Any] | None = None
) -> int:
    """Bars Backtest.run over ``sample_frame`` needs before its first ``next()``, plus one
    (at least 2): its own warm-up rule, an all-NaN indicator needing none."""
    from .book import LiveBroker
    from .data import BarBuffer, LiveData
    from .shadow import build_shadow, warmup_start

    data = LiveData(BarBuffer.from_frame(sample_frame))
    if loaded.prepare_data is not None:
        data.install(loaded.prepare_data(data.df.copy()))
    broker = LiveBroker(data=data, index=pd.Index([]), **BacktestOptions(cash=1e12).kwargs())
    broker.setup_live(lambda: "sample")
    start = warmup_start(build_shadow(loaded.cls, broker, data, params or {}))
    return max(2, (start or 0) + 1)


def default_lookback(
    loaded: LoadedStrategy, sample_frame: pd.DataFrame, params: dict[str, Any] | None = None
) -> int:
    """``loaded.lookback``, or the indicators' warm-up measured by ``init()`` on a sample.

    The result is the first bar Backtest.run would trade on plus one (at least 2), by its own
    rule (an indicator NaN on the whole sample needs none).
    """
    if loaded.lookback is not None:
        return loaded.lookback
    bars = measured_warmup(loaded, sample_frame, params)
    log.warning(
        "%s defines no LOOKBACK; using %d bars of history (indicator warm-up on a %d-bar "
        "sample). Set LOOKBACK = N in the file to choose.",
        loaded.path.name,
        bars,
        len(sample_frame),
    )
    return bars
