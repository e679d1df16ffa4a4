"""A guild's avatars. Every lookup takes the guild id: a guild never reaches another's avatar."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.storage.audit import AuditEvent, insert_event
from bot.storage.common import (
    FORGOTTEN_MEMBER,
    UNSET,
    Clock,
    Unset,
    unix_now,
    update_params,
)
from bot.storage.database import Database
from bot.storage.errors import DuplicateNameError, LimitReached
from bot.storage.hot import hot
from bot.storage.intents import NewIntent, insert_intent
from bot.storage.privacy import personal_data
from bot.storage.sql import engine_sql
from bot.storage.transaction import Row, WriteTx


class AvatarStatus(StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class ReviewState(StrEnum):
    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class NewAvatar:
    guild_id: int
    name: str
    personality: str
    voice_preset: str
    created_by: int
    start_script: str | None = None
    image_source_url: str | None = None
    reference_image_uri: str | None = None
    review_state: ReviewState = ReviewState.APPROVED


@dataclass(frozen=True, slots=True)
class Avatar:
    id: int
    guild_id: int
    runway_id: str | None
    name: str
    name_key: str
    personality: str
    start_script: str | None
    voice_preset: str
    image_source_url: str | None
    reference_image_uri: str | None
    processed_image_uri: str | None
    status: AvatarStatus
    failure_reason: str | None
    review_state: ReviewState
    review_message_id: int | None
    created_by: int
    created_at: int
    updated_at: int

    @property
    def usable(self) -> bool:
        """Whether members may start sessions with it."""
        return self.status is AvatarStatus.READY and self.review_state is ReviewState.APPROVED


def name_key(name: str) -> str:
    """The form of a name that must be unique within a guild.

    Compatibility-normalised and case-folded (full-width, upper- and lower-case spellings collide),
    format and control characters such as zero-width spaces removed, whitespace runs collapsed.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    visible = "".join(ch for ch in folded if unicodedata.category(ch) not in {"Cf", "Cc"})
    key = " ".join(visible.split())
    if not key:
        raise ValueError("an avatar name needs at least one visible character")
    return key


class AvatarRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def add(
        self,
        new: NewAvatar,
        *,
        max_avatars: int | None = None,
        audit: AuditEvent | None = None,
    ) -> Avatar:
        """Store a new avatar (PROCESSING, no Runway id yet).

        Raises `DuplicateNameError`, or `LimitReached("guild_avatars")` when the guild already
        has `max_avatars`; both are checked in the same transaction as the insert.
        """
        avatar, _ = await self._add(new, max_avatars, audit, None)
        return avatar

    async def add_with_intent(
        self, new: NewAvatar, intent: NewIntent, owner: int, *, max_avatars: int | None = None
    ) -> tuple[Avatar, int]:
        """`add`, and in the same transaction the intent (owned by process `owner`) to create
        the avatar at Runway: no crash can leave one without the other. Returns the intent id."""
        avatar, intent_id = await self._add(new, max_avatars, None, (intent, owner))
        assert intent_id is not None
        return avatar, intent_id

    async def _add(
        self,
        new: NewAvatar,
        max_avatars: int | None,
        audit: AuditEvent | None,
        intent: tuple[NewIntent, int] | None,
    ) -> tuple[Avatar, int | None]:
        key = name_key(new.name)
        now = self._clock()

        def body(tx: WriteTx) -> tuple[Avatar, int | None]:
            _refuse_duplicate(tx, new.guild_id, key, new.name, exclude_id=None)
            if max_avatars is not None:
                row = tx.fetch_one(
                    "SELECT count(*) FROM avatars WHERE guild_id = ?", (new.guild_id,)
                )
                count: int = row[0] if row is not None else 0
                if count >= max_avatars:
                    raise LimitReached("guild_avatars", max_avatars, count)
            row = tx.fetch_one(
                "INSERT INTO avatars (guild_id, name, name_key, personality, start_script,"
                " voice_preset, image_source_url, reference_image_uri, review_state, created_by,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (
                    new.guild_id, new.name, key, new.personality, new.start_script,
                    new.voice_preset, new.image_source_url, new.reference_image_uri,
                    new.review_state, new.created_by, now, now,
                ),
            )  # fmt: skip
            assert row is not None, "INSERT ... RETURNING returns the row"
            if audit is not None:
                insert_event(tx, new.guild_id, audit, now)
            avatar = _avatar(row)
            intent_id = None
            if intent is not None:
                wanted, owner = intent
                intent_id = insert_intent(tx, replace(wanted, record_id=avatar.id), owner, now)
            return avatar, intent_id

        return await self._db.write(body)

    async def get(self, guild_id: int, avatar_id: int) -> Avatar | None:
        row = await self._db.fetch_one(_GET, {"guild": guild_id, "avatar": avatar_id})
        return None if row is None else _avatar(row)

    async def get_by_name(self, guild_id: int, name: str) -> Avatar | None:
        """Find an avatar by any spelling that normalises to the same key."""
        row = await self._db.fetch_one(_GET_BY_NAME, {"guild": guild_id, "key": name_key(name)})
        return None if row is None else _avatar(row)

    async def get_by_runway_id(self, guild_id: int, runway_id: str) -> Avatar | None:
        row = await self._db.fetch_one(
            "SELECT * FROM avatars WHERE guild_id = ? AND runway_id = ?", (guild_id, runway_id)
        )
        return None if row is None else _avatar(row)

    async def count(self, guild_id: int) -> int:
        row = await self._db.fetch_one(
            "SELECT count(*) FROM avatars WHERE guild_id = ?", (guild_id,)
        )
        return 0 if row is None else int(row[0])

    async def list_page(self, guild_id: int, *, limit: int, offset: int = 0) -> list[Avatar]:
        """One page of the guild's avatars, in name order."""
        rows = await self._db.fetch_all(
            "SELECT * FROM avatars WHERE guild_id = ? ORDER BY name_key, id LIMIT ? OFFSET ?",
            (guild_id, limit, offset),
        )
        return [_avatar(row) for row in rows]

    async def awaiting_review_post(self, guild_id: int, *, limit: int = 25) -> list[Avatar]:
        """Avatars waiting for approval that have no review post (posting it failed)."""
        rows = await self._db.fetch_all(
            "SELECT * FROM avatars WHERE guild_id = ? AND review_state = 'PENDING'"
            " AND review_message_id IS NULL ORDER BY id LIMIT ?",
            (guild_id, limit),
        )
        return [_avatar(row) for row in rows]

    async def search(
        self, guild_id: int, text: str, *, limit: int = 25, usable_only: bool = False
    ) -> list[Avatar]:
        """Avatars whose name contains `text` once normalised, names starting with it first.

        Made for autocomplete: never raises on odd input, returns at most `limit` (Discord: 25).
        """
        try:
            needle = name_key(text)
        except ValueError:
            needle = ""
        rows = await self._db.fetch_all(
            _SEARCH,
            {"guild": guild_id, "needle": needle, "usable_only": usable_only, "limit": limit},
        )
        return [_avatar(row) for row in rows]

    async def update(
        self,
        guild_id: int,
        avatar_id: int,
        *,
        name: str | Unset = UNSET,
        personality: str | Unset = UNSET,
        start_script: str | Unset | None = UNSET,
        voice_preset: str | Unset = UNSET,
        image_source_url: str | Unset | None = UNSET,
        reference_image_uri: str | Unset | None = UNSET,
        processed_image_uri: str | Unset | None = UNSET,
        runway_id: str | Unset | None = UNSET,
        status: AvatarStatus | Unset = UNSET,
        failure_reason: str | Unset | None = UNSET,
        review_state: ReviewState | Unset = UNSET,
        review_message_id: int | Unset | None = UNSET,
        audit: AuditEvent | None = None,
    ) -> Avatar | None:
        """Change the fields given; None if the guild has no such avatar.

        Raises `DuplicateNameError` when renaming onto another avatar's name.
        """
        key = UNSET if isinstance(name, Unset) else name_key(name)
        now = self._clock()
        params = update_params(
            name=name,
            name_key=key,
            personality=personality,
            start_script=start_script,
            voice_preset=voice_preset,
            image_source_url=image_source_url,
            reference_image_uri=reference_image_uri,
            processed_image_uri=processed_image_uri,
            runway_id=runway_id,
            status=status,
            failure_reason=failure_reason,
            review_state=review_state,
            review_message_id=review_message_id,
        ) | {"guild_id": guild_id, "id": avatar_id, "now": now}

        def body(tx: WriteTx) -> Avatar | None:
            if not isinstance(name, Unset) and not isinstance(key, Unset):
                _refuse_duplicate(tx, guild_id, key, name, exclude_id=avatar_id)
            row = tx.fetch_one(_UPDATE, params)
            if row is None:
                return None
            if audit is not None:
                insert_event(tx, guild_id, audit, now)
            return _avatar(row)

        return await self._db.write(body)

    async def delete(
        self, guild_id: int, avatar_id: int, *, audit: AuditEvent | None = None
    ) -> bool:
        """Delete the avatar; documents still recorded for it become ORPHANED for the cleanup.

        Its sessions keep their label for reports. Returns whether the avatar existed.
        """
        now = self._clock()

        def body(tx: WriteTx) -> bool:
            deleted = tx.execute(
                "DELETE FROM avatars WHERE guild_id = ? AND id = ?", (guild_id, avatar_id)
            )
            if deleted and audit is not None:
                insert_event(tx, guild_id, audit, now)
            return deleted > 0

        return await self._db.write(body)


_GET = hot(
    "an avatar of the server by id (autocomplete's choice)",
    "SELECT * FROM avatars WHERE guild_id = :guild AND id = :avatar",
    reads={"avatars.pk": None},
)

_GET_BY_NAME = hot(
    "an avatar of the server by name",
    "SELECT * FROM avatars WHERE guild_id = :guild AND name_key = :key",
    reads={"sqlite_autoindex_avatars_2": None},
)

# A server's avatars are few (its limit, at most 1,000): the search reads them all.
_SEARCH = hot(
    "autocomplete: a server's avatars matching what is typed",
    engine_sql("avatar_search"),
    reads={"sqlite_autoindex_avatars_2": None},
)

_UPDATE = """
UPDATE avatars SET
    name = CASE WHEN :set_name THEN :name ELSE name END,
    name_key = CASE WHEN :set_name_key THEN :name_key ELSE name_key END,
    personality = CASE WHEN :set_personality THEN :personality ELSE personality END,
    start_script = CASE WHEN :set_start_script THEN :start_script ELSE start_script END,
    voice_preset = CASE WHEN :set_voice_preset THEN :voice_preset ELSE voice_preset END,
    image_source_url = CASE WHEN :set_image_source_url THEN :image_source_url
        ELSE image_source_url END,
    reference_image_uri = CASE WHEN :set_reference_image_uri THEN :reference_image_uri
        ELSE reference_image_uri END,
    processed_image_uri = CASE WHEN :set_processed_image_uri THEN :processed_image_uri
        ELSE processed_image_uri END,
    runway_id = CASE WHEN :set_runway_id THEN :runway_id ELSE runway_id END,
    status = CASE WHEN :set_status THEN :status ELSE status END,
    failure_reason = CASE WHEN :set_failure_reason THEN :failure_reason ELSE failure_reason END,
    review_state = CASE WHEN :set_review_state THEN :review_state ELSE review_state END,
    review_message_id = CASE WHEN :set_review_message_id THEN :review_message_id
        ELSE review_message_id END,
    updated_at = :now
WHERE guild_id = :guild_id AND id = :id
RETURNING *
"""


@personal_data("avatars created", "avatars.created_by")
def _forget_creator(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """The server's avatars stay; who created them is forgotten."""
    return tx.execute(
        "UPDATE avatars SET created_by = :forgotten"
        " WHERE guild_id = :guild AND created_by = :member",
        {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER},
    )


def _refuse_duplicate(
    tx: WriteTx, guild_id: int, key: str, name: str, *, exclude_id: int | None
) -> None:
    row = tx.fetch_one(
        "SELECT id FROM avatars WHERE guild_id = ? AND name_key = ? AND id IS DISTINCT FROM ?",
        (guild_id, key, exclude_id),
    )
    if row is not None:
        raise DuplicateNameError(name)


def _avatar(row: Row) -> Avatar:
    return Avatar(
        id=row["id"],
        guild_id=row["guild_id"],
        runway_id=row["runway_id"],
        name=row["name"],
        name_key=row["name_key"],
        personality=row["personality"],
        start_script=row["start_script"],
        voice_preset=row["voice_preset"],
        image_source_url=row["image_source_url"],
        reference_image_uri=row["reference_image_uri"],
        processed_image_uri=row["processed_image_uri"],
        status=AvatarStatus(row["status"]),
        failure_reason=row["failure_reason"],
        review_state=ReviewState(row["review_state"]),
        review_message_id=row["review_message_id"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
