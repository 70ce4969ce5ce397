"""Where logs go: the console (warnings, or every step with --verbose) and a rotated log file
that is always written at DEBUG, as text or one JSON object per line. Every bar's OHLCV line
(logger ``stratequeue.bars``) is logged only with --verbose: built, masked and written for
every bar, it cost more than the strategy's own step.

Secrets never reach either: every record is masked for the values of environment variables
named ``*KEY``, ``*SECRET``, ``*TOKEN`` or ``*PASSWORD``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO, cast

__all__ = ["BAR_LOGGER", "LOG_FILE_NAME", "SecretMask", "configure_logging"]

LOG_FILE_NAME = "stratequeue.log"
BAR_LOGGER = "stratequeue.bars"  # one DEBUG line per bar received: on with --verbose only
MAX_BYTES = 5 * 1024 * 1024
BACKUP_COUNT = 3
MASK = "***"
_SECRET_SUFFIXES = ("KEY", "SECRET", "TOKEN", "PASSWORD")
_OURS = "_stratequeue_handler"  # marks the handlers configure_logging installed


class SecretMask(logging.Filter):
    """Replaces secret values (read from the environment at each record, so keys set after
    start-up are covered) in the message, its arguments, and the traceback."""

    def __init__(self) -> None:
        super().__init__()
        self._count = -1
        self._secret_names: tuple[str, ...] = ()

    def _secrets(self) -> list[str]:
        """The secret values now. Which variables hold secrets is worked out again when the
        number of variables changes (decoding every name at each record cost ~0.3 ms); their
        values are read at each record."""
        environ = os.environ
        if len(environ) != self._count:
            self._count = len(environ)
            self._secret_names = tuple(n for n in environ if n.upper().endswith(_SECRET_SUFFIXES))
        values = {environ.get(n, "") for n in self._secret_names}
        return sorted((v for v in values if len(v) > 4), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets()
        if not secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in secrets:
            message = message.replace(secret, MASK)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, MASK)
            if record.stack_info:
                record.stack_info = record.stack_info.replace(secret, MASK)
        record.msg, record.args = message, None
        return True


class _ThirdPartyDebug(logging.Filter):
    """Keeps other libraries' DEBUG chatter (websocket frames, HTTP internals) out of the
    file unless --verbose asked for everything."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO or record.name.startswith("stratequeue")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class _CurrentStderr(io.TextIOBase):
    """``sys.stderr`` as it is at each write: a test's capture, or rich's redirect while the
    live portfolio panel is on screen (a rich console given ``sys.stderr`` itself would write
    past that redirect and tear the panel)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def _text_formatter() -> logging.Formatter:
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    return formatter


def _console_handler(log_format: str) -> logging.Handler:
    if log_format == "json":
        handler: logging.Handler = logging.StreamHandler(_CurrentStderr())
        handler.setFormatter(_JsonFormatter())
    elif sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        console = Console(file=cast("IO[str]", _CurrentStderr()), force_terminal=True)
        handler = RichHandler(console=console, show_path=False)
    else:
        handler = logging.StreamHandler(_CurrentStderr())
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    return handler


def configure_logging(*, verbose: bool, log_format: str, log_file: Path | None) -> None:
    """Install the console handler (WARNING, or DEBUG with ``verbose``) and, when ``log_file``
    is given, the rotated file handler (DEBUG, 5 MB x 3). ``log_format``: "text" or "json".
    The per-bar lines (:data:`BAR_LOGGER`) are enabled with ``verbose`` only.
    Calling it again replaces what an earlier call installed."""
    if log_format not in ("text", "json"):
        raise ValueError(f"Unknown log format '{log_format}'. Use text or json.")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    console = _console_handler(log_format)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handlers = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file = RotatingFileHandler(
            log_file, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
        file.setLevel(logging.DEBUG)
        file.setFormatter(_JsonFormatter() if log_format == "json" else _text_formatter())
        if not verbose:
            file.addFilter(_ThirdPartyDebug())
        handlers.append(file)
    for handler in handlers:
        handler.addFilter(SecretMask())
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger(BAR_LOGGER).setLevel(logging.DEBUG if verbose else logging.INFO)
