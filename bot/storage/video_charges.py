"""What a server and a member are charged for avatar videos, as admission and `/quota show`
read it: the twin of `bot.storage.charges` for calls.

A day's charge is the rollup of ended videos plus the estimates of live ones, and for a member
who asked to be forgotten today, what `held_usage` keeps of them (their ended videos went, their
seconds are the forgotten member's now), so forgetting oneself never gives a new allowance.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.admission import Period
from bot.storage.hot import hot
from bot.storage.transaction import ReadTx


@dataclass(frozen=True, slots=True)
class VideoFacts:
    """What admission weighs: the member's requests in flight (waiting for approval or live),
    the seconds charged today to the server and to the member (ended videos' real seconds,
    live ones' estimates), and when the member's last admitted request counted."""

    member_in_flight: int
    guild_day_seconds: int
    member_day_seconds: int
    member_last_at: int | None


# One statement, five index searches: the member's requests in flight and the live estimates
# charged today (the live index), the day's rollups of the server and of the member, what is
# held of the member after forgetting, and the member's last admitted request.
_FACTS = hot(
    "video admission: requests in flight, today's charges, the member's last request",
    """
    SELECT live.mine, server.seconds + live.today,
           member.seconds + live.mine_today + held.seconds,
           (SELECT max(counted_at) FROM (
                SELECT (SELECT max(counted_at) FROM videos
                        WHERE guild_id = :guild AND member_id = :member
                          AND state NOT IN ('AWAITING_APPROVAL', 'RELEASED')
                          AND id <> :besides) AS counted_at
                UNION ALL SELECT held.counted_at) AS lasts)
    FROM
        (SELECT count(*) FILTER (WHERE member_id = :member AND id <> :besides) AS mine,
                coalesce(sum(estimate_seconds) FILTER (
                    WHERE state <> 'AWAITING_APPROVAL'
                      AND counted_at >= :day_start AND counted_at < :day_end), 0) AS today,
                coalesce(sum(estimate_seconds) FILTER (
                    WHERE member_id = :member AND state <> 'AWAITING_APPROVAL'
                      AND counted_at >= :day_start AND counted_at < :day_end), 0) AS mine_today
         FROM videos WHERE guild_id = :guild
           AND state IN ('AWAITING_APPROVAL', 'RESERVED', 'RENDERING', 'POSTING')) AS live,
        (SELECT coalesce(sum(seconds), 0) AS seconds FROM rollup_video_days
         WHERE guild_id = :guild AND day_start >= :day_start AND day_start < :day_end) AS server,
        (SELECT coalesce(sum(seconds), 0) AS seconds FROM rollup_video_member_days
         WHERE guild_id = :guild AND member_id = :member
           AND day_start >= :day_start AND day_start < :day_end) AS member,
        (SELECT coalesce(sum(video_seconds) FILTER (
                    WHERE day_start >= :day_start AND day_start < :day_end), 0) AS seconds,
                max(video_counted_at) AS counted_at
         FROM held_usage WHERE guild_id = :guild AND member_id = :member) AS held
    """,
    reads={
        "videos_live": None,
        "rollup_video_days.pk": "day_start>",
        "rollup_video_member_days.pk": "day_start>",
        "videos_member_last": None,
        "held_usage.pk": None,
    },
)


def read_video_facts(
    tx: ReadTx, guild_id: int, member_id: int, day: Period, besides: int | None
) -> VideoFacts:
    """The facts of `day` for a request of `member_id`, not counting request `besides` (the
    one being approved)."""
    row = tx.fetch_one(
        _FACTS,
        {
            "guild": guild_id,
            "member": member_id,
            "day_start": day.start,
            "day_end": day.end,
            "besides": besides or 0,
        },
    )
    assert row is not None, "a SELECT of subqueries always returns a row"
    return VideoFacts(
        member_in_flight=int(row[0]),
        guild_day_seconds=int(row[1]),
        member_day_seconds=int(row[2]),
        member_last_at=row[3],
    )
