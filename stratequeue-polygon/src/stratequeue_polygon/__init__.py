"""Polygon.io (Massive) market data for StrateQueue."""

from __future__ import annotations
