"""What a forgotten member's limits still need, for as long as they need it (schema 8).

Forgetting a member deletes their calls and videos and files their seconds under the
forgotten member. Left at that, their daily allowances and their waits between calls and
between videos would start again: forgetting oneself would be a way round every limit. So the
erasure's transaction first keeps, under the member's id and with nothing else about them:

- the seconds of calls and of videos charged to them on the server's local day now running,
  until that day ends;
- when their last call ended and their last video was counted, only while the server's wait
  between them (as set now) still runs.

Admission adds them to what the rollups say of the member (`bot.storage.charges`,
`bot.storage.video_charges`), so a forgotten member is held to exactly what they were held to
before. The scheduled upkeep deletes a row once its `expires_at` has passed; what is kept and
until when is what the member is told. The kept seconds are one figure of one local day: if the
server changes its timezone later that day, they count in the new local day that holds the old
day's midnight, as rollup days older than the two months a timezone move redoes do.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.admission import Period
from bot.storage.charges import read_usage
from bot.storage.common import Clock, unix_now
from bot.storage.database import Database
from bot.storage.transaction import Row, WriteTx
from bot.storage.video_charges import read_video_facts


@dataclass(frozen=True, slots=True)
class HoldRules:
    """What the server's limits need of a member forgotten now (the quota service knows)."""

    day: Period  # the server's local day now, that the daily allowances count
    call_cooldown: int  # seconds a member waits after a call before the next (0: none)
    video_cooldown: int  # seconds between a member's videos (0: none)


@dataclass(frozen=True, slots=True)
class HeldUsage:
    day_start: int
    call_seconds: int  # charged to the member's daily call allowance of that day
    video_seconds: int  # charged to their daily video allowance
    call_ended_at: int | None  # their last call's end, while the wait after it runs
    video_counted_at: int | None  # their last video's, while the wait after it runs
    expires_at: int  # deleted once this has passed


def hold(
    tx: WriteTx, guild_id: int, member_id: int, rules: HoldRules, now: int
) -> HeldUsage | None:
    """Keep what the limits need of the member before their records go (see the module note),
    in the erasure's transaction; None when nothing needs keeping. The figures are read as
    admission reads them, so they include what an earlier erasure of the same day kept."""
    calls = read_usage(tx, guild_id, member_id, [rules.day], member_last_end=True)
    videos = read_video_facts(tx, guild_id, member_id, rules.day, None)
    call_seconds = calls.periods[rules.day].member_seconds
    video_seconds = videos.member_day_seconds
    call_ended = _still_waited_on(calls.member_last_ended_at, rules.call_cooldown, now)
    video_counted = _still_waited_on(videos.member_last_at, rules.video_cooldown, now)
    ends = [rules.day.end] if call_seconds or video_seconds else []
    if call_ended is not None:
        ends.append(call_ended + rules.call_cooldown)
    if video_counted is not None:
        ends.append(video_counted + rules.video_cooldown)
    ids = {"guild": guild_id, "member": member_id}
    if not ends:
        tx.execute(_DROP, ids)  # an older day's row: nothing of it counts any more
        return None
    held = HeldUsage(
        day_start=rules.day.start,
        call_seconds=call_seconds,
        video_seconds=video_seconds,
        call_ended_at=call_ended,
        video_counted_at=video_counted,
        expires_at=max(ends),
    )
    tx.execute(
        _KEEP,
        ids
        | {
            "day_start": held.day_start,
            "calls": held.call_seconds,
            "videos": held.video_seconds,
            "call_ended": held.call_ended_at,
            "video_counted": held.video_counted_at,
            "expires": held.expires_at,
        },
    )
    return held


class HeldUsageRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def get(self, guild_id: int, member_id: int) -> HeldUsage | None:
        """What is kept of a forgotten member in this server, if anything still is."""
        row = await self._db.fetch_one(
            "SELECT * FROM held_usage WHERE guild_id = :guild AND member_id = :member"
            " AND expires_at > :now",
            {"guild": guild_id, "member": member_id, "now": self._clock()},
        )
        return None if row is None else _held(row)

    async def expire(self) -> int:
        """Delete every row whose time is up; returns how many went."""
        return await self._db.write(
            lambda tx: tx.execute(
                "DELETE FROM held_usage WHERE expires_at <= :now", {"now": self._clock()}
            )
        )


def _still_waited_on(moment: int | None, wait: int, now: int) -> int | None:
    return moment if moment is not None and wait > 0 and moment + wait > now else None


def _held(row: Row) -> HeldUsage:
    return HeldUsage(
        day_start=row["day_start"],
        call_seconds=row["call_seconds"],
        video_seconds=row["video_seconds"],
        call_ended_at=row["call_ended_at"],
        video_counted_at=row["video_counted_at"],
        expires_at=row["expires_at"],
    )


_KEEP = """
INSERT INTO held_usage (guild_id, member_id, day_start, call_seconds, video_seconds,
                        call_ended_at, video_counted_at, expires_at)
VALUES (:guild, :member, :day_start, :calls, :videos, :call_ended, :video_counted, :expires)
ON CONFLICT (guild_id, member_id) DO UPDATE SET
    day_start = excluded.day_start, call_seconds = excluded.call_seconds,
    video_seconds = excluded.video_seconds, call_ended_at = excluded.call_ended_at,
    video_counted_at = excluded.video_counted_at, expires_at = excluded.expires_at
"""

_DROP = "DELETE FROM held_usage WHERE guild_id = :guild AND member_id = :member"
