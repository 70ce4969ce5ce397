"""The names edits give Coinbase orders.

Coinbase edits a GTC limit order in place and keeps its ``client_order_id``; our core's
``replace_order`` gives the order a new client order id. The link (new id -> Coinbase's order id
and the id it replaces) is written to an order journal (:mod:`stratequeue.ledger.journal`)
before the edit leaves and marked placed when Coinbase accepts it, so a restart answers under
the new id too and never sends the order again. The journal file is made at the first edit (a
run that edits nothing leaves no file). An edit whose answer was lost stays
``sending`` until a lookup sees Coinbase's order carry the edit's price and size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratequeue.ledger.journal import Entry, Journal

__all__ = ["Edit", "Edits"]


@dataclass(frozen=True)
class Edit:
    """One edit as journaled: Coinbase's order, the id it had there, the new price and size."""

    order_id: str
    original: str
    price: str
    size: str

    def landed(self, order: dict[str, Any]) -> bool:
        """Coinbase's order carries this edit's price and size."""
        config = (order.get("order_configuration") or {}).get("limit_limit_gtc") or {}
        return (config.get("limit_price"), config.get("base_size")) == (self.price, self.size)


class Edits:
    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._journal = Journal(path) if Path(path).exists() else None
        self._names: dict[str, str] = {}  # order id -> its client order id now
        self._ids: dict[str, str] = {}  # a client order id an edit gave -> order id
        self._replaced: dict[str, str] = {}  # a client order id an edit took away -> order id
        entries = self._journal.all() if self._journal is not None else []
        for entry in sorted(entries, key=lambda e: e.sent_at):
            if entry.state == "placed":
                self._apply(entry)

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.path)
        return self._journal

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def intent(self, new_cid: str, old_cid: str, edit: Edit) -> None:
        """Committed before the edit leaves."""
        signature = json.dumps(edit.__dict__, sort_keys=True)
        self.journal.intent(new_cid, signature, datetime.now(UTC), replaces=old_cid)

    def placed(self, new_cid: str) -> None:
        entry = self.journal.get(new_cid)
        if entry is None:
            raise KeyError(f"no journaled edit names {new_cid}")
        edit = _edit(entry)
        self.journal.placed(new_cid, edit.order_id)
        self._apply(self.journal.get(new_cid) or entry)

    def rejected(self, new_cid: str) -> None:
        self.journal.rejected(new_cid)

    def unsettled(self, cid: str) -> Edit | None:
        """The edit naming ``cid`` whose answer was lost (state ``sending``), if any."""
        if self._journal is None:
            return None
        entry = self._journal.get(cid)
        return _edit(entry) if entry is not None and entry.state == "sending" else None

    def order_id(self, cid: str) -> str | None:
        """Coinbase's order an edit named ``cid``."""
        return self._ids.get(cid)

    def replaced(self, cid: str) -> str | None:
        """Coinbase's order ``cid`` named before an edit renamed it."""
        return self._replaced.get(cid)

    def name(self, order_id: str, default: str) -> str:
        """Our client order id for Coinbase's order ``order_id`` now."""
        return self._names.get(order_id, default)

    def _apply(self, entry: Entry) -> None:
        order_id = entry.order_id or _edit(entry).order_id
        if entry.replaces and entry.replaces != entry.cid:
            self._replaced[entry.replaces] = order_id
            self._ids.pop(entry.replaces, None)
        self._replaced.pop(entry.cid, None)
        self._ids[entry.cid] = order_id
        self._names[order_id] = entry.cid


def _edit(entry: Entry) -> Edit:
    data = json.loads(entry.signature)
    return Edit(str(data["order_id"]), str(data["original"]), str(data["price"]), str(data["size"]))
