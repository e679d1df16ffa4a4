"""Discord's sharding rules, as the fake's gateway and `GET /gateway/bot` apply them.

From Discord's docs, "Gateway > Sharding" (https://discord.com/developers/docs/events/
gateway#sharding) and the close-code table ("Opcodes and Status Codes > Gateway Close
Event Codes"):

- A session names its shard in IDENTIFY as `shard: [shard_id, num_shards]`; a guild's
  events go to the session(s) where `(guild_id >> 22) % num_shards == shard_id`, events
  without a guild (DMs) to shard 0. A session without `shard` is shard [0, 1].
- An invalid pair closes the connection with 4010 (Invalid shard); a session that would
  hold more than 2,500 guilds is closed with 4011 (Sharding required).
- "You can establish multiple sessions with the same [shard_id, num_shards]": Discord
  neither closes the older one nor refuses the newer; both receive that shard's events.
  So two processes whose SHARD_IDS overlap both receive the same interactions, and only
  the bot can notice.
- `GET /gateway/bot` recommends a shard count and reports the session start limit:
  1,000 IDENTIFYs a day, `max_concurrency` of them per 5 seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_GUILDS_PER_SHARD = 2500
GUILDS_PER_RECOMMENDED_SHARD = 1000  # Discord recommends about one shard per 1,000 guilds
DAILY_SESSION_STARTS = 1000
DAY_MS = 86_400_000
# Events whose payload is the guild itself, so its `id` is the guild id.
_GUILD_EVENTS = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})


@dataclass(frozen=True)
class Shard:
    id: int
    count: int

    def receives(self, guild_id: int | None) -> bool:
        """Whether this shard gets the events of `guild_id` (None: an event without a guild)."""
        if guild_id is None:
            return self.id == 0
        return (guild_id >> 22) % self.count == self.id

    @classmethod
    def from_identify(cls, value: Any) -> Shard | None:
        """The shard an IDENTIFY's `shard` field names, or None when Discord would refuse it."""
        if not isinstance(value, list) or len(value) != 2:
            return None
        shard_id, count = value
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (shard_id, count)):
            return None
        if count < 1 or not 0 <= shard_id < count:
            return None
        return cls(shard_id, count)

    def as_list(self) -> list[int]:
        return [self.id, self.count]


UNSHARDED = Shard(0, 1)


def guild_of(event: str, data: dict[str, Any]) -> int | None:
    """The guild an event belongs to, which decides its shard (None: shard 0's)."""
    raw = data.get("id") if event in _GUILD_EVENTS else data.get("guild_id")
    return None if raw is None else int(raw)


def recommended_shards(guild_count: int) -> int:
    return max(1, math.ceil(guild_count / GUILDS_PER_RECOMMENDED_SHARD))


@dataclass
class SessionStarts:
    """The application's session start limit: IDENTIFYs left today, and per 5 s."""

    max_concurrency: int = 1
    used: int = 0

    def payload(self) -> dict[str, int]:
        return {
            "total": DAILY_SESSION_STARTS,
            "remaining": max(0, DAILY_SESSION_STARTS - self.used),
            "reset_after": DAY_MS,
            "max_concurrency": self.max_concurrency,
        }
