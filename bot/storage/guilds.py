"""Per-guild settings, and app-wide key/value state that belongs to no guild.

Changing a guild's timezone moves its calls of this and last month to their new local days in
the usage rollups, in the same transaction (see `bot.storage.rollups`), so budgets and recent
reports count the new days from the moment the change commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.common import UNSET, Clock, Unset, unix_now, update_params
from bot.storage.database import Database
from bot.storage.hot import hot
from bot.storage.local_days import month_period, zone_or_utc
from bot.storage.rollups import move_to_timezone
from bot.storage.transaction import Row, WriteTx


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A guild's settings; a guild that never changed anything gets these defaults."""

    guild_id: int
    manager_role_id: int | None = None
    approval_required: bool = False
    review_channel_id: int | None = None
    alert_channel_id: int | None = None
    timezone: str = "UTC"
    retention_months: int | None = None  # None: keep every session
    video_role_id: int | None = None  # who may ask for avatar videos besides managers
    transcripts: str = "off"  # 'off', 'member' or 'moderation' (see migration 0006)
    recordings: bool = False
    moderation_channel_id: int | None = None
    conversation_days: int | None = None  # None: the bot never deletes conversations at Runway


class GuildSettingsRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self._db.fetch_one(_GET, {"guild": guild_id})
        return GuildSettings(guild_id) if row is None else _settings(row)

    async def update(
        self,
        guild_id: int,
        *,
        manager_role_id: int | Unset | None = UNSET,
        approval_required: bool | Unset = UNSET,
        review_channel_id: int | Unset | None = UNSET,
        alert_channel_id: int | Unset | None = UNSET,
        timezone: str | Unset = UNSET,
        retention_months: int | Unset | None = UNSET,
        video_role_id: int | Unset | None = UNSET,
        transcripts: str | Unset = UNSET,
        recordings: bool | Unset = UNSET,
        moderation_channel_id: int | Unset | None = UNSET,
        conversation_days: int | Unset | None = UNSET,
    ) -> GuildSettings:
        """Change only the fields given (None clears a channel or role, or keeps every session)
        in one statement.

        Two admins changing different settings at once therefore never undo each other.
        """
        params = update_params(
            manager_role_id=manager_role_id,
            approval_required=approval_required,
            review_channel_id=review_channel_id,
            alert_channel_id=alert_channel_id,
            timezone=timezone,
            retention_months=retention_months,
            video_role_id=video_role_id,
            transcripts=transcripts,
            recordings=recordings,
            moderation_channel_id=moderation_channel_id,
            conversation_days=conversation_days,
        )
        # A guild's first change inserts its row: the columns not given take the defaults.
        defaults = GuildSettings(guild_id)
        for column in ("approval_required", "timezone", "transcripts", "recordings"):
            if not params[f"set_{column}"]:
                value = getattr(defaults, column)
                params[column] = int(value) if isinstance(value, bool) else value
        now = self._clock()
        params |= {"guild_id": guild_id, "now": now}
        since = None if isinstance(timezone, Unset) else _recent(now, timezone)

        def body(tx: WriteTx) -> Row:
            moving = since is not None and timezone != _timezone(tx, guild_id)
            if since is not None and moving:
                move_to_timezone(tx, guild_id, sign=-1, since=since)
            row = tx.fetch_one(_UPSERT, params)
            assert row is not None, "INSERT ... RETURNING returns the row"
            if since is not None and moving:
                move_to_timezone(tx, guild_id, sign=1, since=since)
            return row

        return _settings(await self._db.write(body))


def _recent(now: int, timezone: str) -> int:
    """The start of the previous local month in `timezone`: the calls a timezone change moves
    to their new days (see `bot.storage.rollups`)."""
    tz = zone_or_utc(timezone)
    return month_period(month_period(now, tz).start - 1, tz).start


def _timezone(tx: WriteTx, guild_id: int) -> str:
    row = tx.fetch_one("SELECT timezone FROM guild_settings WHERE guild_id = ?", (guild_id,))
    return GuildSettings(guild_id).timezone if row is None else str(row[0])


_GET = hot(
    "a server's settings (every managed command checks its manager role)",
    "SELECT * FROM guild_settings WHERE guild_id = :guild",
    reads={"guild_settings.pk": None},
)

_UPSERT = """
INSERT INTO guild_settings (guild_id, manager_role_id, approval_required, review_channel_id,
                            alert_channel_id, timezone, retention_months, video_role_id,
                            transcripts, recordings, moderation_channel_id, conversation_days,
                            updated_at)
VALUES (:guild_id, :manager_role_id, :approval_required, :review_channel_id,
        :alert_channel_id, :timezone, :retention_months, :video_role_id, :transcripts,
        :recordings, :moderation_channel_id, :conversation_days, :now)
ON CONFLICT (guild_id) DO UPDATE SET
    manager_role_id = CASE WHEN :set_manager_role_id THEN excluded.manager_role_id
        ELSE guild_settings.manager_role_id END,
    approval_required = CASE WHEN :set_approval_required THEN excluded.approval_required
        ELSE guild_settings.approval_required END,
    review_channel_id = CASE WHEN :set_review_channel_id THEN excluded.review_channel_id
        ELSE guild_settings.review_channel_id END,
    alert_channel_id = CASE WHEN :set_alert_channel_id THEN excluded.alert_channel_id
        ELSE guild_settings.alert_channel_id END,
    timezone = CASE WHEN :set_timezone THEN excluded.timezone
        ELSE guild_settings.timezone END,
    retention_months = CASE WHEN :set_retention_months THEN excluded.retention_months
        ELSE guild_settings.retention_months END,
    video_role_id = CASE WHEN :set_video_role_id THEN excluded.video_role_id
        ELSE guild_settings.video_role_id END,
    transcripts = CASE WHEN :set_transcripts THEN excluded.transcripts
        ELSE guild_settings.transcripts END,
    recordings = CASE WHEN :set_recordings THEN excluded.recordings
        ELSE guild_settings.recordings END,
    moderation_channel_id = CASE WHEN :set_moderation_channel_id
        THEN excluded.moderation_channel_id ELSE guild_settings.moderation_channel_id END,
    conversation_days = CASE WHEN :set_conversation_days THEN excluded.conversation_days
        ELSE guild_settings.conversation_days END,
    updated_at = excluded.updated_at
RETURNING *
"""


def _settings(row: Row) -> GuildSettings:
    return GuildSettings(
        guild_id=row["guild_id"],
        manager_role_id=row["manager_role_id"],
        approval_required=bool(row["approval_required"]),
        review_channel_id=row["review_channel_id"],
        alert_channel_id=row["alert_channel_id"],
        timezone=row["timezone"],
        retention_months=row["retention_months"],
        video_role_id=row["video_role_id"],
        transcripts=row["transcripts"],
        recordings=bool(row["recordings"]),
        moderation_channel_id=row["moderation_channel_id"],
        conversation_days=row["conversation_days"],
    )


class AppStateRepository:
    """Small app-wide facts, e.g. the hash of the last synced command tree."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        row = await self._db.fetch_one("SELECT value FROM app_state WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set(self, key: str, value: str) -> None:
        await self._db.write(
            lambda tx: tx.execute(
                "INSERT INTO app_state (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )
