"""Avatars' pictures as the bot re-encoded them, one per avatar, deleted with the avatar."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.storage.common import Clock, unix_now
from bot.storage.database import Database


class PictureSource(StrEnum):
    SUPPLIED = "supplied"
    """The image the member gave when creating the avatar."""
    PROCESSED = "processed"
    """Runway's processed image of the avatar."""


@dataclass(frozen=True, slots=True)
class StoredPicture:
    avatar_id: int
    source: PictureSource
    source_uri: str | None
    content_type: str
    data: bytes
    updated_at: int


class PictureRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def get(self, guild_id: int, avatar_id: int) -> StoredPicture | None:
        row = await self._db.fetch_one(
            "SELECT avatar_id, source, source_uri, content_type, data, updated_at"
            " FROM avatar_pictures WHERE guild_id = ? AND avatar_id = ?",
            (guild_id, avatar_id),
        )
        if row is None:
            return None
        return StoredPicture(
            avatar_id=row["avatar_id"],
            source=PictureSource(row["source"]),
            source_uri=row["source_uri"],
            content_type=row["content_type"],
            data=bytes(row["data"]),
            updated_at=row["updated_at"],
        )

    async def put(
        self,
        guild_id: int,
        avatar_id: int,
        *,
        source: PictureSource,
        data: bytes,
        content_type: str,
        source_uri: str | None = None,
    ) -> bool:
        """Keep `data` as the avatar's picture; False when the avatar no longer exists."""
        params = {
            "guild_id": guild_id,
            "avatar_id": avatar_id,
            "source": source.value,
            "source_uri": source_uri,
            "content_type": content_type,
            "data": data,
            "now": self._clock(),
        }
        changed = await self._db.write(lambda tx: tx.execute(_UPSERT, params))
        return changed > 0


_UPSERT = """
INSERT INTO avatar_pictures
    (avatar_id, guild_id, source, source_uri, content_type, data, updated_at)
SELECT id, guild_id, :source, :source_uri, :content_type, :data, :now
FROM avatars WHERE guild_id = :guild_id AND id = :avatar_id
ON CONFLICT (avatar_id) DO UPDATE SET
    source = excluded.source,
    source_uri = excluded.source_uri,
    content_type = excluded.content_type,
    data = excluded.data,
    updated_at = excluded.updated_at
"""
