"""The fake TWS's records: instruments, orders and executions (plain data, no protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["FakeExecution", "FakeOrder", "Instrument", "OPEN_STATES"]

#: the order states TWS reports while an order can still execute
OPEN_STATES = frozenset({"PreSubmitted", "Submitted"})


@dataclass(frozen=True)
class Instrument:
    con_id: int
    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    last_trade: str = ""
    multiplier: str = ""
    local_symbol: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.symbol, self.sec_type, self.currency, self.last_trade)


@dataclass
class FakeOrder:
    """One order as TWS holds it (``parent_id``/``oca_group`` tie brackets and OCA groups)."""

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    action: str  # BUY | SELL
    qty: float
    order_type: str  # MKT | LMT | STP | STP LMT
    lmt: float | None
    aux: float | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    parent_id: int = 0
    status: str = "PreSubmitted"
    staged: bool = False  # sent with transmit=False: waits for its group's last order
    triggered: bool = False  # a stop-limit whose stop was reached
    waits: bool = False  # a market order held for the next price (``Exchange.hold``)
    filled: float = 0.0
    cost: float = 0.0
    last_fill_price: float = 0.0
    completed_status: str = ""
    completed_time: str = ""

    @property
    def remaining(self) -> float:
        return self.qty - self.filled

    @property
    def avg_price(self) -> float:
        return self.cost / self.filled if self.filled else 0.0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def sign(self) -> int:
        return 1 if self.action == "BUY" else -1


@dataclass(frozen=True)
class FakeExecution:
    exec_id: str
    order: FakeOrder
    time: datetime
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    commission: float
