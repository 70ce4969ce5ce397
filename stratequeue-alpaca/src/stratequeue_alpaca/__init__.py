"""Alpaca broker (paper and live) and market data for StrateQueue."""

from __future__ import annotations
