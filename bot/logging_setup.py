"""Log format for the whole process, discord.py's loggers included.

Two formats: plain text for a person at a terminal, and JSON lines (`LOG_FORMAT=json`) for a
log store an operator searches by field: one object per record with its time, level, logger,
message, and the request id, server and shard it belongs to where known
(`bot.telemetry.context`). Either way every line passes through the redactor first, so no
secret reaches the output at any level.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.telemetry import context
from bot.telemetry.redaction import REDACT, Redactor


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
TEXT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class RedactingTextFormatter(logging.Formatter):
    """The plain text format, with secrets redacted from the message and any traceback."""

    def __init__(self, redact: Redactor = REDACT) -> None:
        super().__init__(TEXT_FORMAT, TEXT_DATE_FORMAT)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def __init__(self, redact: Redactor = REDACT) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        bound = context.current()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        if bound.request_id is not None:
            entry["request_id"] = bound.request_id
        if bound.guild_id is not None:
            entry["guild_id"] = str(bound.guild_id)  # snowflakes exceed JSON's safe integers
        if bound.shard is not None:
            entry["shard"] = bound.shard
        if record.exc_info:
            entry["exception"] = self._redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self._redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self._redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: int, log_format: LogFormat = LogFormat.TEXT, redact: Redactor = REDACT
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLinesFormatter(redact)
        if log_format is LogFormat.JSON
        else RedactingTextFormatter(redact)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's HTTP logger is chatty at DEBUG and prints request routes, not tokens.
    logging.getLogger("discord.http").setLevel(max(level, logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
