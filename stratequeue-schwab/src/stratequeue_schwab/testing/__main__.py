"""``python -m stratequeue_schwab.testing --token /tmp/schwab-token.json``: run the fake Schwab
by hand, with a login written to ``--token``; market orders fill at once at ``--price``."""

from __future__ import annotations

from pathlib import Path

from stratequeue.testing import fake_arg_parser, serve_by_hand

from . import FakeSchwab


def main() -> None:
    parser = fake_arg_parser("Charles Schwab Trader API", 8182)
    parser.add_argument("--token", type=Path, default=Path("schwab-token.json"))
    parser.add_argument("--price", action="append", default=[], metavar="SYMBOL=PRICE")
    args = parser.parse_args()
    fake = FakeSchwab(app_key=args.key, host=args.host, port=args.port)
    fake.exchange.fill_market_at_once = True
    for item in args.price or ["AAPL=190"]:
        symbol, _, price = item.partition("=")
        fake.exchange.set_price(symbol, float(price))
    fake.write_token_file(args.token)  # a login this fake knows (its tokens live in memory)
    env = " ".join(f"{k}={v}" for k, v in fake.env(args.token.resolve()).items())
    serve_by_hand(fake, "Fake Schwab on %s; export %s", fake.base_url, env)


if __name__ == "__main__":
    main()
