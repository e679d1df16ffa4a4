"""What a server and a member are charged, as admission and `/quota show` read it.

A session's charge: its real seconds once settled, its whole reservation while live, nothing
once released. Ended sessions are read from the day rollups and live ones from the live index,
so reading a month costs the same at the end of a busy month as on its first day. Periods are
whole local days of the server (a day, a month: see `bot.storage.local_days`), the unit the
rollups count in. Reserving and showing read through this one function, so the allowance a
member is shown is the arithmetic their next start is held to.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.storage.admission import Period, PeriodUsage, UsageSnapshot
from bot.storage.hot import hot
from bot.storage.transaction import ReadTx

_LIVE = {"sessions_live": None}

_LIVE_COUNTS = hot(
    "admission: live sessions of the server and the member",
    """
    SELECT count(*), count(*) FILTER (WHERE member_id = :member)
    FROM sessions WHERE guild_id = :guild AND state IN ('RESERVED', 'OPEN')
    """,
    reads=_LIVE,
)

_PERIOD_CHARGES = hot(
    "admission: charges of a period, server and member",
    """
    SELECT
        (SELECT coalesce(sum(seconds), 0) FROM rollup_guild_days
         WHERE guild_id = :guild AND day_start >= :start AND day_start < :end)
        + (SELECT coalesce(sum(max_seconds), 0) FROM sessions
           WHERE guild_id = :guild AND state IN ('RESERVED', 'OPEN')
             AND created_at >= :start AND created_at < :end),
        (SELECT coalesce(sum(seconds), 0) FROM rollup_member_days
         WHERE guild_id = :guild AND member_id = :member
           AND day_start >= :start AND day_start < :end)
        + (SELECT coalesce(sum(max_seconds), 0) FROM sessions
           WHERE guild_id = :guild AND member_id = :member AND state IN ('RESERVED', 'OPEN')
             AND created_at >= :start AND created_at < :end)
    """,
    reads={
        "rollup_guild_days.pk": "day_start>",
        "rollup_member_days.pk": "day_start>",
        "sessions_live": None,
    },
)

_MEMBER_LAST_END = hot(
    "admission: when the member's last call ended",
    """
    SELECT ended_at FROM sessions
    WHERE guild_id = :guild AND member_id = :member AND state = 'SETTLED'
    ORDER BY ended_at DESC LIMIT 1
    """,
    reads={"sessions_member_last_end": None},
)


def read_usage(
    tx: ReadTx,
    guild_id: int,
    member_id: int,
    periods: Sequence[Period],
    *,
    member_last_end: bool,
) -> UsageSnapshot:
    """The live counts, each period's charges and (if asked) the member's last end."""
    ids = {"guild": guild_id, "member": member_id}
    live = tx.fetch_one(_LIVE_COUNTS, ids)
    assert live is not None, "an aggregate always returns a row"
    charged: dict[Period, PeriodUsage] = {}
    for period in periods:
        row = tx.fetch_one(_PERIOD_CHARGES, ids | {"start": period.start, "end": period.end})
        assert row is not None, "a SELECT of subqueries always returns a row"
        charged[period] = PeriodUsage(guild_seconds=row[0], member_seconds=row[1])
    last_end = tx.fetch_one(_MEMBER_LAST_END, ids) if member_last_end else None
    return UsageSnapshot(
        guild_live=live[0],
        member_live=live[1],
        periods=charged,
        member_last_ended_at=None if last_end is None else last_end[0],
    )
