"""The SQLite ledger: everything that happened, written before it matters.

Order intents and orders are committed BEFORE the order is sent (write-ahead), so a crash
between the two is recoverable; fills are keyed by the broker's execution id, so a fill
reported twice is kept once. Each part of the ledger lives in its own module, all writing
through one connection (:mod:`.connection`, which also says which rows may wait for the next
commit): runs and sleeves, bars and snapshots, signals/intents/orders, fills, trades, operator controls, what a verification needs.
"""

from __future__ import annotations

from .bars import BarRecords
from .connection import TABLES, default_db_path
from .controls import ControlRecords
from .fills import Allocation, FillRecords
from .orders import OrderRecords
from .runs import RunRecords
from .trades import TradeRecords
from .verification import VerificationRecords

__all__ = ["TABLES", "Allocation", "Ledger", "default_db_path"]


class Ledger(
    RunRecords,
    BarRecords,
    OrderRecords,
    FillRecords,
    TradeRecords,
    ControlRecords,
    VerificationRecords,
):
    """One ledger file: open it with ``Ledger(path)``, close it with :meth:`close`."""
