"""The embedded SQLite ledger of everything that happened."""

from __future__ import annotations

from .schema import SCHEMA_VERSION
from .store import Allocation, Ledger, default_db_path

__all__ = ["SCHEMA_VERSION", "Allocation", "Ledger", "default_db_path"]
