"""Snowflake ids made the way Discord makes them, so their timestamps mean something.

discord.py derives `created_at` from ids, and the bot may sort or expire things by them;
ids that count up from the current time keep those readings truthful.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Increasing snowflakes stamped with the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        stamped = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(stamped, self._last + 1)
        return self._last


def snowflake_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


def interaction_token() -> str:
    """An opaque token in the shape Discord hands out (long, url-safe)."""
    return "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
