"""Keep the websocket auth frames out of debug logs.

``websockets`` logs every frame at DEBUG, shortened in the middle, which still shows the end of
the secret in the trade_updates auth message (and the whole key and secret, hex-encoded, in the
market-data one). This filter blanks the content of outgoing frames on the client loggers.
"""

from __future__ import annotations

import logging

__all__ = ["hide_outgoing_frames"]

_LOGGERS = ("websockets.client", "websockets.protocol", "websockets")


class _OutgoingFrames(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "> %s" and isinstance(record.args, tuple) and record.args:
            frame = record.args[0]
            opcode = getattr(getattr(frame, "opcode", None), "name", "frame")
            record.msg = "> %s [%d bytes, content hidden by stratequeue-alpaca]"
            record.args = (opcode, len(getattr(frame, "data", b"")))
        return True


_FILTER = _OutgoingFrames()


def hide_outgoing_frames() -> None:
    """Install the filter (once) on the websockets loggers."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
