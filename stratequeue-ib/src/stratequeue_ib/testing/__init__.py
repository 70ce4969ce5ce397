"""A fake TWS / IB Gateway on 127.0.0.1 speaking the TWS API socket protocol (server version
176, text fields), for tests and by hand. The real ib_async connects to it::

    with FakeTWS(accounts=("DU123456",)) as tws:   # asyncio in a background thread
        tws.set_price("AAPL", 190.0)
        ib.connect(tws.host, tws.port, clientId=1)
        ...
        assert tws.places("sq-cid-1") == 1          # placeOrder messages per orderRef

By hand: ``python -m stratequeue_ib.testing --port 7497`` (prints host:port).

It logs every message it receives (:attr:`FakeTWS.log`). Knobs: :meth:`FakeTWS.configure`
(``hold`` market orders for the next price, ``fill_delay``, ``partial_fills``),
:meth:`FakeTWS.reject_next` (an error code and text for the next order),
:meth:`FakeTWS.fault` (error 100 or a dropped connection on the next order or positions
request), :meth:`FakeTWS.drop_connections`, :meth:`FakeTWS.fill` (execute a working order).
"""

from __future__ import annotations

from .exchange import Exchange
from .server import FakeTWS, Received

__all__ = ["Exchange", "FakeTWS", "Received"]
