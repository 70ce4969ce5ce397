"""``python -m stratequeue_coinbase.testing --port 8443``: run the fake Coinbase by hand; it
prints the environment that points the plugin at it (the key is a throwaway test key)."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading

from . import FakeCoinbase


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Coinbase Advanced Trade on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--cash", type=float, default=100_000.0)
    parser.add_argument("--price", action="append", default=[], metavar="PRODUCT=PRICE")
    parser.add_argument("--key", choices=("ec", "ed25519"), default="ec")
    args = parser.parse_args()
    with FakeCoinbase(port=args.port, cash=args.cash, key=args.key) as fake:
        for item in args.price or ["BTC-USD=60000"]:
            product, _, price = item.partition("=")
            fake.exchange.set_price(product, float(price))
        for name, value in fake.env().items():
            sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
        sys.stdout.flush()
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        done.wait()


if __name__ == "__main__":
    main()
