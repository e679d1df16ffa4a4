"""What a server and a member are charged, as admission and `/quota show` read it.

A session's charge: its real seconds once settled, its whole reservation while live, nothing
once released. Ended sessions are read from the day rollups and live ones from the live index,
so reading a month costs the same at the end of a busy month as on its first day. Periods are
whole local days of the server (a day, a month: see `bot.storage.local_days`), the unit the
rollups count in. Reserving and showing read through this one function, so the allowance a
member is shown is the arithmetic their next start is held to. A member who asked to be
forgotten has their day's seconds and last end in `held_usage` (their calls went, their seconds
are the forgotten member's now): they are added here, so forgetting oneself never gives a new
allowance or cuts a wait short.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.storage.admission import Period, PeriodUsage, UsageSnapshot
from bot.storage.hot import hot
from bot.storage.transaction import ReadTx

# One statement for everything a start needs, in five index searches: the server's live rows
# (counted and summed in one pass), its and the member's day rollups over both periods, what is
# held of the member after forgetting, and the member's last end. A start reads all of it
# twice (to fit the call, then in the reservation), so each search saved counts. A period's
# charge is its day rollup plus the live reservations started in it.
_FACTS = hot(
    "admission: live calls, two periods' charges, the member's last end",
    """
    SELECT live.calls, live.mine,
           server.first + live.first, member.first + live.mine_first + held.first,
           server.second + live.second, member.second + live.mine_second + held.second,
           CASE WHEN :last_end THEN
               (SELECT max(ended_at) FROM (
                    SELECT (SELECT ended_at FROM sessions
                            WHERE guild_id = :guild AND member_id = :member
                              AND state = 'SETTLED'
                            ORDER BY ended_at DESC LIMIT 1) AS ended_at
                    UNION ALL SELECT held.ended_at) AS ends)
           END
    FROM
        (SELECT count(*) AS calls,
                count(*) FILTER (WHERE member_id = :member) AS mine,
                coalesce(sum(max_seconds) FILTER (
                    WHERE created_at >= :first_start AND created_at < :first_end), 0) AS first,
                coalesce(sum(max_seconds) FILTER (
                    WHERE member_id = :member
                      AND created_at >= :first_start AND created_at < :first_end), 0)
                    AS mine_first,
                coalesce(sum(max_seconds) FILTER (
                    WHERE created_at >= :second_start AND created_at < :second_end), 0)
                    AS second,
                coalesce(sum(max_seconds) FILTER (
                    WHERE member_id = :member
                      AND created_at >= :second_start AND created_at < :second_end), 0)
                    AS mine_second
         FROM sessions WHERE guild_id = :guild AND state IN ('RESERVED', 'OPEN')) AS live,
        (SELECT coalesce(sum(seconds) FILTER (
                    WHERE day_start >= :first_start AND day_start < :first_end), 0) AS first,
                coalesce(sum(seconds) FILTER (
                    WHERE day_start >= :second_start AND day_start < :second_end), 0) AS second
         FROM rollup_guild_days
         WHERE guild_id = :guild AND day_start >= :low AND day_start < :high) AS server,
        (SELECT coalesce(sum(seconds) FILTER (
                    WHERE day_start >= :first_start AND day_start < :first_end), 0) AS first,
                coalesce(sum(seconds) FILTER (
                    WHERE day_start >= :second_start AND day_start < :second_end), 0) AS second
         FROM rollup_member_days
         WHERE guild_id = :guild AND member_id = :member
           AND day_start >= :low AND day_start < :high) AS member,
        (SELECT coalesce(sum(call_seconds) FILTER (
                    WHERE day_start >= :first_start AND day_start < :first_end), 0) AS first,
                coalesce(sum(call_seconds) FILTER (
                    WHERE day_start >= :second_start AND day_start < :second_end), 0) AS second,
                max(call_ended_at) AS ended_at
         FROM held_usage WHERE guild_id = :guild AND member_id = :member) AS held
    """,
    reads={
        "sessions_live": None,
        "rollup_guild_days.pk": "day_start>",
        "rollup_member_days.pk": "day_start>",
        "sessions_member_last_end": None,
        "held_usage.pk": None,
    },
)

# The account's live sessions (Runway limits how many run at once per account, whatever the
# server) from the live index alone, and the members waiting in line for one.
_ACCOUNT = hot(
    "admission: the account's live calls and waiting line",
    """
    SELECT (SELECT count(*) FROM sessions WHERE state IN ('RESERVED', 'OPEN')),
           (SELECT count(*) FROM waiting_line WHERE state = 'WAITING')
    """,
    reads={"sessions_open": None, "waiting_line_order": None},
)

_NO_PERIOD = Period(0, 0)


def read_usage(
    tx: ReadTx,
    guild_id: int,
    member_id: int,
    periods: Sequence[Period],
    *,
    member_last_end: bool,
    account: bool = False,
) -> UsageSnapshot:
    """The live counts, each period's charges and (if asked) the member's last end and the
    account's live calls and waiting line."""
    charged: dict[Period, PeriodUsage] = {}
    row = None
    for first, second in _pairs(periods):
        span = _span(first, second)
        row = tx.fetch_one(
            _FACTS,
            {
                "guild": guild_id,
                "member": member_id,
                "first_start": first.start,
                "first_end": first.end,
                "second_start": second.start,
                "second_end": second.end,
                "low": span.start,
                "high": span.end,
                "last_end": member_last_end and row is None,
            },
        )
        assert row is not None, "a SELECT of subqueries always returns a row"
        charged[first] = PeriodUsage(guild_seconds=row[2], member_seconds=row[3])
        if second is not _NO_PERIOD:
            charged[second] = PeriodUsage(guild_seconds=row[4], member_seconds=row[5])
    assert row is not None
    account_row = tx.fetch_one(_ACCOUNT) if account else None
    return UsageSnapshot(
        guild_live=row[0],
        member_live=row[1],
        periods=charged,
        member_last_ended_at=row[6] if member_last_end else None,
        account_live=0 if account_row is None else account_row[0],
        account_waiting=0 if account_row is None else account_row[1],
    )


def _span(*periods: Period) -> Period:
    """The least period covering the given ones (the empty ones aside)."""
    given = [period for period in periods if period.start < period.end]
    if not given:
        return _NO_PERIOD
    return Period(min(p.start for p in given), max(p.end for p in given))


def _pairs(periods: Sequence[Period]) -> list[tuple[Period, Period]]:
    """The periods two by two (one statement reads two), at least once (for the live counts)."""
    padded = [*periods, _NO_PERIOD] if len(periods) % 2 else list(periods)
    pairs = list(zip(padded[::2], padded[1::2], strict=True))
    return pairs or [(_NO_PERIOD, _NO_PERIOD)]
