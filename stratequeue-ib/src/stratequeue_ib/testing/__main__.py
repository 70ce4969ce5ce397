"""``python -m stratequeue_ib.testing --port 7497``: run the fake TWS by hand."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta

from . import FakeTWS


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake TWS (socket API) on 127.0.0.1")
    parser.add_argument("--port", type=int, default=7497)
    parser.add_argument("--account", action="append", default=[], metavar="ACCOUNT")
    parser.add_argument("--price", action="append", default=[], metavar="SYMBOL=PRICE")
    parser.add_argument("--fill-delay", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--partial-fills", type=int, default=1)
    parser.add_argument(
        "--live",
        action="store_true",
        help="market data: two hours of 5-second history per --price symbol, then a new "
        "5-second bar every 5 s (for --data-source ib)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    fake = FakeTWS(accounts=tuple(args.account or ["DU123456"]), port=args.port)
    with fake:
        fake.configure(fill_delay=args.fill_delay, partial_fills=args.partial_fills)
        for item in args.price or ["AAPL=190"]:
            symbol, _, price = item.partition("=")
            fake.set_price(symbol, float(price))
            if args.live:
                now = datetime.now(UTC).replace(second=0, microsecond=0)
                fake.seed_walk(symbol, now - timedelta(hours=2), 12 * 120, float(price))
        if args.live:
            fake.live([item.partition("=")[0] for item in args.price or ["AAPL=190"]])
        sys.stdout.write(f"{fake.address}\n")
        sys.stdout.flush()
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        done.wait()


if __name__ == "__main__":
    main()
