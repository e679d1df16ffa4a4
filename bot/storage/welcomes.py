"""The one welcome per server: claimed here before it is posted, so it is never posted twice."""

from __future__ import annotations

from bot.storage.common import Clock, unix_now
from bot.storage.database import Database


class WelcomeRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def claim(self, guild_id: int, channel_id: int) -> bool:
        """True exactly once per guild: for the caller that may post the welcome."""
        row = await self._db.write(
            lambda tx: tx.fetch_one(
                "INSERT INTO guild_welcomes (guild_id, channel_id, claimed_at) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id) DO NOTHING RETURNING guild_id",
                (guild_id, channel_id, self._clock()),
            )
        )
        return row is not None
