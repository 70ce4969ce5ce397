"""Risk rails: limits from ``stratequeue.toml``, the order guard with its kill switch, and
stale-feed detection (with the watcher thread of a run). The pipeline calls it and records
what it says."""

from __future__ import annotations

from .guard import ACCOUNT, RiskGuard
from .limits import RiskConfig, RiskLimits, load_risk_config
from .stale import FeedWatch, StaleFeed

__all__ = [
    "ACCOUNT",
    "FeedWatch",
    "RiskConfig",
    "RiskGuard",
    "RiskLimits",
    "StaleFeed",
    "load_risk_config",
]
