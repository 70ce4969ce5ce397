"""The live-bar toolkit for data plugins: everything but the vendor's wire code.

- :class:`BarGrid`: where bars of a granularity start and end (daily bars in a market's zone).
- :class:`BarFolder`: minute/second bars, trades (:func:`trade_bar`) or quotes
  (:func:`quote_bar`) folded into closed bars of any granularity, duplicates and late
  revisions dropped.
- :class:`BarFilter`: each bar of a symbol once, in order, sound; the one record of what was
  delivered.
- :func:`backfill`: after a reconnect, the gap from the vendor's history, in order, once.
- :class:`Retry`, :class:`Backoff`, :class:`TransientError`, :func:`parse_retry_after`:
  retrying vendor calls with exponential backoff, honouring ``Retry-After``.
- :func:`utcnow`, :func:`num`: the clock, and vendor numbers that may be missing;
  :func:`env_key`, :func:`env_url`: a plugin's key and endpoints from the environment.
"""

from __future__ import annotations

from .backfill import History, backfill
from .env import env_key, env_url
from .filter import BarFilter
from .folding import BarFolder, VolumeRule, quote_bar, summed_volume, trade_bar
from .grid import BarGrid
from .retry import Backoff, Retry, TransientError, parse_retry_after
from .values import num, utcnow

__all__ = [
    "Backoff",
    "BarFilter",
    "BarFolder",
    "BarGrid",
    "History",
    "Retry",
    "TransientError",
    "VolumeRule",
    "backfill",
    "env_key",
    "env_url",
    "num",
    "parse_retry_after",
    "quote_bar",
    "summed_volume",
    "trade_bar",
    "utcnow",
]
