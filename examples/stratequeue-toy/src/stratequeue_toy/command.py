"""``stratequeue toy-exchange``: serve the fake Toy Exchange on this machine, to try the plugin
end to end without a real venue. Needs aiohttp (``pip install "stratequeue-toy[test]"``)."""

from __future__ import annotations

import click

__all__ = ["toy_exchange"]


@click.command("toy-exchange")
@click.option("--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1.")
@click.option("--key", default="toy-key", show_default=True, help="The API key it accepts.")
def toy_exchange(port: int, key: str) -> None:
    """Serve a fake Toy Exchange on 127.0.0.1 until Ctrl-C (set TOY_API_KEY to --key)."""
    try:
        from .fake import FakeToyExchange
    except ModuleNotFoundError as exc:
        raise click.UsageError(
            f'The fake Toy Exchange needs {exc.name}: pip install "stratequeue-toy[test]".'
        ) from None
    from stratequeue.testing import serve_by_hand

    fake = FakeToyExchange(key, port=port, live=True)
    serve_by_hand(
        fake, "Toy Exchange on %s: export TOY_URL=%s TOY_API_KEY=...", fake.base_url, fake.base_url
    )
