"""The TWS socket framing: each message is a 4-byte big-endian length and NUL-ended fields.

A client opens with ``API\\0`` followed by one framed ``v<min>..<max>`` version range; every
message after that, both ways, is a framed list of text fields.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable

__all__ = ["GREETING", "field", "frame", "read_frame"]

GREETING = b"API\0"


def field(value: object) -> str:
    """One value as TWS writes it: nothing for None, 1/0 for booleans, floats without noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def frame(fields: Iterable[object]) -> bytes:
    body = "".join(field(v) + "\0" for v in fields).encode()
    return struct.pack(">I", len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> list[str] | None:
    """The next message's fields, or None when the peer closed the connection."""
    try:
        head = await reader.readexactly(4)
        body = await reader.readexactly(struct.unpack(">I", head)[0])
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    fields = body.decode(errors="replace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields
