"""Retention: ended sessions (and avatar videos), and audit log entries, older than a guild's
chosen horizon are deleted in small batches.

Their figures are already in the rollups (every session enters them when it ends), so reports,
budgets and reconciliation over old periods keep their totals; what goes is the per-session
detail (a CSV export of those months, and who had which call) and the history of changes of
those months (`/avatar history`), which would otherwise grow for as long as the server uses the
bot. Each batch is one short write transaction, so a first sweep over a year of a busy server
never holds the write connection for more than a few milliseconds at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.database import Database
from bot.storage.hot import hot


@dataclass(frozen=True, slots=True)
class RetentionRule:
    guild_id: int
    months: int
    timezone: str


class RetentionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def rules(self) -> list[RetentionRule]:
        """Every guild that keeps its sessions for a limited time."""
        rows = await self._db.fetch_all(_RULES)
        return [RetentionRule(row[0], row[1], row[2]) for row in rows]

    async def delete_batch(self, guild_id: int, *, started_before: int, limit: int) -> int:
        """Delete up to `limit` of the guild's ended sessions that started before
        `started_before`, oldest first, as many of its ended avatar videos (with their texts;
        their seconds stay in the video rollups) and as many of its audit log entries written
        before then; returns how many records went."""
        params = {"guild": guild_id, "before": started_before, "limit": limit}
        return await self._db.write(
            lambda tx: sum(
                tx.execute(sql, params) for sql in (_DELETE_BATCH, _DELETE_VIDEOS, _DELETE_AUDIT)
            )
        )


_RULES = """
SELECT guild_id, retention_months, timezone FROM guild_settings
WHERE retention_months IS NOT NULL ORDER BY guild_id
"""

_DELETE_BATCH = hot(
    "retention: a batch of a server's oldest ended sessions",
    """
    DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions
        WHERE guild_id = :guild AND state IN ('SETTLED', 'RELEASED') AND created_at < :before
        ORDER BY created_at LIMIT :limit
    )
    """,
    reads={"sessions.pk": None, "sessions_ended": "created_at<"},
)

_DELETE_VIDEOS = hot(
    "retention: a batch of a server's oldest ended avatar videos",
    """
    DELETE FROM videos WHERE id IN (
        SELECT id FROM videos
        WHERE guild_id = :guild AND state IN ('SETTLED', 'RELEASED') AND counted_at < :before
        ORDER BY counted_at LIMIT :limit
    )
    """,
    reads={"videos.pk": None, "videos_ended": "counted_at<"},
)

# The outer conditions repeat the inner ones: where the planner thinks the log small, it may
# read the server's old entries through the index, never the whole log.
_DELETE_AUDIT = hot(
    "retention: a batch of a server's oldest audit log entries",
    """
    DELETE FROM audit_log WHERE guild_id = :guild AND created_at < :before AND id IN (
        SELECT id FROM audit_log WHERE guild_id = :guild AND created_at < :before
        ORDER BY created_at LIMIT :limit
    )
    """,
    reads={"audit_log.pk": None, "audit_log_guild_time": "created_at<"},
)
