"""Usage reports: what a guild (or one member) used over a period, by day and by who and what.

Sessions count in the period in which they started. Seconds are the settled, real seconds;
live sessions are reported apart, with the seconds they have reserved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage.admission import Period
from bot.storage.database import Database


@dataclass(frozen=True, slots=True)
class UsageTotals:
    settled_sessions: int
    settled_seconds: int
    live_sessions: int
    reserved_seconds: int


@dataclass(frozen=True, slots=True)
class UsageBucket:
    period: Period
    sessions: int
    seconds: int


@dataclass(frozen=True, slots=True)
class MemberUsage:
    member_id: int
    sessions: int
    seconds: int


@dataclass(frozen=True, slots=True)
class LabelUsage:
    """Usage grouped by a label: an avatar's name, or how sessions ended."""

    label: str
    sessions: int
    seconds: int


class UsageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def totals(
        self, guild_id: int, period: Period, *, member_id: int | None = None
    ) -> UsageTotals:
        row = await self._db.fetch_one(
            """
            SELECT count(*) FILTER (WHERE state = 'SETTLED'),
                   coalesce(sum(used_seconds) FILTER (WHERE state = 'SETTLED'), 0),
                   count(*) FILTER (WHERE state IN ('RESERVED', 'OPEN')),
                   coalesce(sum(max_seconds) FILTER (WHERE state IN ('RESERVED', 'OPEN')), 0)
            FROM sessions WHERE guild_id = ? AND created_at >= ? AND created_at < ?
                AND (?4 IS NULL OR member_id = ?4)
            """,
            (guild_id, period.start, period.end, member_id),
        )
        assert row is not None, "an aggregate always returns a row"
        return UsageTotals(*row)

    async def by_bucket(
        self, guild_id: int, boundaries: Sequence[int], *, member_id: int | None = None
    ) -> list[UsageBucket]:
        """Settled usage between consecutive `boundaries` (e.g. the starts of local days).

        The caller computes the boundaries, so days follow the guild's timezone, DST included.
        """
        rows = await self._db.fetch_all(
            """
            WITH bounds (start, end) AS (
                SELECT value, lead(value) OVER (ORDER BY key) FROM json_each(?1)
            )
            SELECT bounds.start, bounds.end, count(s.id), coalesce(sum(s.used_seconds), 0)
            FROM bounds LEFT JOIN sessions AS s
                ON s.guild_id = ?2 AND s.state = 'SETTLED'
                AND s.created_at >= bounds.start AND s.created_at < bounds.end
                AND (?3 IS NULL OR s.member_id = ?3)
            WHERE bounds.end IS NOT NULL
            GROUP BY bounds.start ORDER BY bounds.start
            """,
            (json.dumps(sorted(boundaries)), guild_id, member_id),
        )
        return [UsageBucket(Period(row[0], row[1]), row[2], row[3]) for row in rows]

    async def top_members(
        self, guild_id: int, period: Period, *, limit: int = 10
    ) -> list[MemberUsage]:
        rows = await self._db.fetch_all(
            """
            SELECT member_id, count(*), sum(used_seconds) AS seconds FROM sessions
            WHERE guild_id = ? AND created_at >= ? AND created_at < ? AND state = 'SETTLED'
            GROUP BY member_id ORDER BY seconds DESC, member_id LIMIT ?
            """,
            (guild_id, period.start, period.end, limit),
        )
        return [MemberUsage(*row) for row in rows]

    async def top_avatars(
        self, guild_id: int, period: Period, *, member_id: int | None = None, limit: int = 10
    ) -> list[LabelUsage]:
        rows = await self._db.fetch_all(
            """
            SELECT avatar_label, count(*), sum(used_seconds) AS seconds FROM sessions
            WHERE guild_id = ? AND created_at >= ? AND created_at < ? AND state = 'SETTLED'
                AND (?4 IS NULL OR member_id = ?4)
            GROUP BY avatar_label ORDER BY seconds DESC, avatar_label LIMIT ?5
            """,
            (guild_id, period.start, period.end, member_id, limit),
        )
        return [LabelUsage(*row) for row in rows]

    async def end_reasons(
        self, guild_id: int, period: Period, *, member_id: int | None = None
    ) -> list[LabelUsage]:
        """How the period's ended sessions ended, released ones (which cost nothing) included."""
        rows = await self._db.fetch_all(
            """
            SELECT end_reason, count(*), coalesce(sum(used_seconds), 0) FROM sessions
            WHERE guild_id = ? AND created_at >= ? AND created_at < ?
                AND state IN ('SETTLED', 'RELEASED') AND (?4 IS NULL OR member_id = ?4)
            GROUP BY end_reason ORDER BY count(*) DESC, end_reason
            """,
            (guild_id, period.start, period.end, member_id),
        )
        return [LabelUsage(*row) for row in rows]
