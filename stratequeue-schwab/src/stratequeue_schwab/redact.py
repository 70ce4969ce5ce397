"""schwab-py logs its requests at DEBUG, the streamer's LOGIN with the access token in it;
StrateQueue's own mask only knows secrets held in environment variables. This filter, put on
schwab-py's loggers, masks the tokens of the login in use (read at each record: refreshes are
covered)."""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["TokenMask", "mask_schwab_logs", "unmask"]

MASK = "***"
#: schwab-py's loggers, some created only when first used
_LOGGERS = ("schwab.streaming", "schwab.client.base", "schwab.auth", "schwab.debug", "schwab.utils")


class TokenMask(logging.Filter):
    def __init__(self, tokens: Callable[[], list[str]]) -> None:
        super().__init__()
        self.tokens = tokens

    def filter(self, record: logging.LogRecord) -> bool:
        values = [t for t in self.tokens() if len(t) > 4]
        if not values:
            return True
        message = record.getMessage()
        for value in values:
            message = message.replace(value, MASK)
        record.msg, record.args = message, None
        return True


def mask_schwab_logs(tokens: Callable[[], list[str]]) -> TokenMask:
    """Put a :class:`TokenMask` on every schwab-py logger; returns it so that ``disconnect``
    can take it off."""
    mask = TokenMask(tokens)
    known = [n for n in logging.root.manager.loggerDict if n.startswith("schwab.")]
    names = sorted(set(known) | set(_LOGGERS))
    for name in names:
        logging.getLogger(name).addFilter(mask)
    mask.names = names  # type: ignore[attr-defined]
    return mask


def unmask(mask: TokenMask) -> None:
    for name in getattr(mask, "names", []):
        logging.getLogger(name).removeFilter(mask)
