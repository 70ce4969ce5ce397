"""The portfolio: strategies' sleeves, netting, fills, orders to the broker (pipeline.py)."""

from __future__ import annotations

from .pipeline import Portfolio
from .state import Sleeve

__all__ = ["Portfolio", "Sleeve"]
