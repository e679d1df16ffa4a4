"""Usage reports: what a guild (or one member) used over a period, by day and by who and what.

Sessions count in the period in which they started. Seconds are the settled, real seconds;
live sessions are reported apart, with the seconds they have reserved. Everything is read from
the rollups (O(days) rows, never O(sessions)) plus the live index, on a read connection, so a
year's report neither grows with the history nor holds up a start. Periods and boundaries are
local midnights of the guild (`bot.storage.local_days`): the rollups count whole local days.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from bot.storage.admission import Period
from bot.storage.common import SqlValue
from bot.storage.database import Database
from bot.storage.hot import hot
from bot.storage.local_days import month_period, zone_or_utc
from bot.storage.transaction import ReadTx


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
    member_id: int  # FORGOTTEN_MEMBER: every member who asked to be forgotten
    sessions: int
    seconds: int


@dataclass(frozen=True, slots=True)
class LabelUsage:
    """Usage grouped by a label: an avatar's name, or how sessions ended."""

    label: str
    sessions: int
    seconds: int


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Every figure of one report, read in one snapshot."""

    totals: UsageTotals
    buckets: list[UsageBucket]
    top_avatars: list[LabelUsage]
    top_members: list[MemberUsage]  # empty for a member's own report
    end_reasons: list[LabelUsage]


class UsageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def summary(
        self,
        guild_id: int,
        period: Period,
        boundaries: Sequence[int],
        *,
        member_id: int | None = None,
        top: int = 10,
    ) -> UsageSummary:
        """A whole report in one read: totals, days (between `boundaries`), top avatars, top
        members (the whole server only) and how calls ended."""

        def body(tx: ReadTx) -> UsageSummary:
            return UsageSummary(
                totals=_totals(tx, guild_id, period, member_id),
                buckets=_buckets(tx, guild_id, boundaries, member_id),
                top_avatars=_top_avatars(tx, guild_id, period, member_id, top),
                top_members=(_top_members(tx, guild_id, period, top) if member_id is None else []),
                end_reasons=_end_reasons(tx, guild_id, period, member_id),
            )

        return await self._db.read(body)

    async def totals(
        self, guild_id: int, period: Period, *, member_id: int | None = None
    ) -> UsageTotals:
        return await self._db.read(lambda tx: _totals(tx, guild_id, period, member_id))


def _params(
    guild_id: int, period: Period, member_id: int | None = None, **more: SqlValue
) -> dict[str, SqlValue]:
    return {
        "guild": guild_id,
        "member": member_id,
        "start": period.start,
        "end": period.end,
        **more,
    }


def _totals(tx: ReadTx, guild_id: int, period: Period, member_id: int | None) -> UsageTotals:
    params = _params(guild_id, period, member_id)
    ended = tx.fetch_one(_GUILD_TOTALS if member_id is None else _MEMBER_TOTALS, params)
    live = tx.fetch_one(_GUILD_LIVE if member_id is None else _MEMBER_LIVE, params)
    assert ended is not None, "an aggregate always returns a row"
    assert live is not None, "an aggregate always returns a row"
    return UsageTotals(ended[0], ended[1], live[0], live[1])


def _buckets(
    tx: ReadTx, guild_id: int, boundaries: Sequence[int], member_id: int | None
) -> list[UsageBucket]:
    edges = sorted(set(boundaries))
    if len(edges) < 2:
        return []
    whole = Period(edges[0], edges[-1])
    sql = _GUILD_DAYS if member_id is None else _MEMBER_DAYS
    sessions = [0] * (len(edges) - 1)
    seconds = [0] * (len(edges) - 1)
    for day_start, settled, used in tx.fetch_all(sql, _params(guild_id, whole, member_id)):
        bucket = bisect_right(edges, day_start) - 1
        sessions[bucket] += settled
        seconds[bucket] += used
    return [
        UsageBucket(Period(start, end), sessions[n], seconds[n])
        for n, (start, end) in enumerate(pairwise(edges))
    ]


def _top_members(tx: ReadTx, guild_id: int, period: Period, limit: int) -> list[MemberUsage]:
    """Whole local months of the period from the month rollup, the days around them from the
    day rollup: a year's ranking reads twelve rows per member, not one per member and day."""
    row = tx.fetch_one(_TIMEZONE, {"guild": guild_id})
    tz = zone_or_utc(row[0] if row is not None else "UTC")
    first = month_period(period.start, tz)
    months_start = first.start if first.start == period.start else first.end
    months_end = month_period(period.end, tz).start
    if months_start >= months_end:  # no whole month: all days
        months_start = months_end = period.start
    rows = tx.fetch_all(
        _TOP_MEMBERS,
        _params(guild_id, period, limit=limit, months_start=months_start, months_end=months_end),
    )
    return [MemberUsage(*row) for row in rows]


def _top_avatars(
    tx: ReadTx, guild_id: int, period: Period, member_id: int | None, limit: int
) -> list[LabelUsage]:
    sql = _GUILD_AVATARS if member_id is None else _MEMBER_AVATARS
    return [
        LabelUsage(*row)
        for row in tx.fetch_all(sql, _params(guild_id, period, member_id, limit=limit))
    ]


def _end_reasons(
    tx: ReadTx, guild_id: int, period: Period, member_id: int | None
) -> list[LabelUsage]:
    sql = _GUILD_END_REASONS if member_id is None else _MEMBER_END_REASONS
    return [LabelUsage(*row) for row in tx.fetch_all(sql, _params(guild_id, period, member_id))]


_DAY_RANGE = "day_start>"
_GUILD_DAY_ROWS = {"rollup_guild_days.pk": _DAY_RANGE}
_MEMBER_DAY_ROWS = {"rollup_member_days.pk": _DAY_RANGE}

_GUILD_TOTALS = hot(
    "report: a server's settled calls of a period",
    """
    SELECT coalesce(sum(settled), 0), coalesce(sum(seconds), 0) FROM rollup_guild_days
    WHERE guild_id = :guild AND day_start >= :start AND day_start < :end
    """,
    reads=_GUILD_DAY_ROWS,
)

_MEMBER_TOTALS = hot(
    "report: a member's settled calls of a period",
    """
    SELECT coalesce(sum(settled), 0), coalesce(sum(seconds), 0) FROM rollup_member_days
    WHERE guild_id = :guild AND member_id = :member AND day_start >= :start AND day_start < :end
    """,
    reads=_MEMBER_DAY_ROWS,
)

_GUILD_LIVE = hot(
    "report: a server's live calls started in a period",
    """
    SELECT count(*), coalesce(sum(max_seconds), 0) FROM sessions
    WHERE guild_id = :guild AND state IN ('RESERVED', 'OPEN')
      AND created_at >= :start AND created_at < :end
    """,
    reads={"sessions_live": None},
)

_MEMBER_LIVE = hot(
    "report: a member's live calls started in a period",
    """
    SELECT count(*), coalesce(sum(max_seconds), 0) FROM sessions
    WHERE guild_id = :guild AND member_id = :member AND state IN ('RESERVED', 'OPEN')
      AND created_at >= :start AND created_at < :end
    """,
    reads={"sessions_live": None},
)

_GUILD_DAYS = hot(
    "report: a server's days",
    """
    SELECT day_start, settled, seconds FROM rollup_guild_days
    WHERE guild_id = :guild AND day_start >= :start AND day_start < :end
    """,
    reads=_GUILD_DAY_ROWS,
)

_MEMBER_DAYS = hot(
    "report: a member's days",
    """
    SELECT day_start, sum(settled), sum(seconds) FROM rollup_member_days
    WHERE guild_id = :guild AND member_id = :member AND day_start >= :start AND day_start < :end
    GROUP BY day_start
    """,
    reads=_MEMBER_DAY_ROWS,
)

_TIMEZONE = hot(
    "report: the server's timezone",
    "SELECT timezone FROM guild_settings WHERE guild_id = :guild",
    reads={"guild_settings.pk": None},
)

_TOP_MEMBERS = hot(
    "report: a server's top members",
    """
    SELECT member_id, sum(settled) AS sessions, sum(seconds) AS seconds FROM (
        SELECT member_id, settled, seconds FROM rollup_member_days
        WHERE guild_id = :guild AND day_start >= :start AND day_start < :months_start
        UNION ALL
        SELECT member_id, settled, seconds FROM rollup_member_months
        WHERE guild_id = :guild AND month_start >= :months_start AND month_start < :months_end
        UNION ALL
        SELECT member_id, settled, seconds FROM rollup_member_days
        WHERE guild_id = :guild AND day_start >= :months_end AND day_start < :end
    ) AS periods
    GROUP BY member_id HAVING sum(settled) > 0
    ORDER BY seconds DESC, member_id LIMIT :limit
    """,
    reads={"rollup_member_days_by_day": _DAY_RANGE, "rollup_member_months.pk": "month_start>"},
)

_GUILD_AVATARS = hot(
    "report: a server's top avatars",
    """
    SELECT avatar_label, sum(settled), sum(seconds) AS total FROM rollup_avatar_days
    WHERE guild_id = :guild AND day_start >= :start AND day_start < :end
    GROUP BY avatar_label ORDER BY total DESC, avatar_label LIMIT :limit
    """,
    reads={"rollup_avatar_days.pk": _DAY_RANGE},
)

_MEMBER_AVATARS = hot(
    "report: a member's top avatars",
    """
    SELECT avatar_label, sum(settled), sum(seconds) AS total FROM rollup_member_days
    WHERE guild_id = :guild AND member_id = :member AND day_start >= :start AND day_start < :end
    GROUP BY avatar_label HAVING sum(settled) > 0
    ORDER BY total DESC, avatar_label LIMIT :limit
    """,
    reads=_MEMBER_DAY_ROWS,
)

_GUILD_END_REASONS = hot(
    "report: how a server's calls ended",
    """
    SELECT end_reason, sum(sessions) AS ended, sum(seconds) FROM rollup_end_days
    WHERE guild_id = :guild AND day_start >= :start AND day_start < :end
    GROUP BY end_reason ORDER BY ended DESC, end_reason
    """,
    reads={"rollup_end_days.pk": _DAY_RANGE},
)

_MEMBER_END_REASONS = hot(
    "report: how a member's calls ended",
    """
    SELECT end_reason, sum(settled + released) AS ended, sum(seconds) FROM rollup_member_days
    WHERE guild_id = :guild AND member_id = :member AND day_start >= :start AND day_start < :end
    GROUP BY end_reason ORDER BY ended DESC, end_reason
    """,
    reads=_MEMBER_DAY_ROWS,
)
