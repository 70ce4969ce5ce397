"""``python -m stratequeue_alpaca.testing --port 8080``: run the fake Alpaca by hand."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from . import FakeAlpaca


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Alpaca (REST + websockets) on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--fill-mode", choices=("immediate", "on_bar", "manual"), default="immediate"
    )
    parser.add_argument("--partial-fills", type=int, default=1)
    parser.add_argument("--fill-delay", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--price", action="append", default=[], metavar="SYMBOL=PRICE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    fake = FakeAlpaca(
        port=args.port,
        fill_mode=args.fill_mode,
        partial_fills=args.partial_fills,
        fill_delay=args.fill_delay,
    )
    for item in args.price or ["AAPL=190", "BTC/USD=65000"]:
        symbol, _, price = item.partition("=")
        fake.exchange.set_price(symbol, float(price))
    with fake:
        log = logging.getLogger("stratequeue_alpaca.testing")
        log.info("Fake Alpaca listening on %s", fake.url)
        for name, value in fake.env().items():
            log.info("  export %s=%s", name, value)
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        done.wait()


if __name__ == "__main__":
    main()
