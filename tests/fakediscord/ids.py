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

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next id whose events Discord routes to `shard_id` of `shard_count`.

        The shard comes from the id's millisecond stamp, so this one is stamped up to
        `shard_count - 1` ms ahead; ids still only grow.
        """
        millis = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, self._last >> 22)
        millis += (shard_id - millis) % shard_count
        if millis == self._last >> 22:
            self._last += 1  # same millisecond as the last id: count up within it
        else:
            self._last = millis << 22
        return self._last


def snowflake_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


def interaction_token() -> str:
    """An opaque token in the shape Discord hands out (long, url-safe)."""
    return "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
