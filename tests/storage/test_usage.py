"""Usage reports over settled sessions."""

from __future__ import annotations

import pytest

from bot.storage import (
    Database,
    EndReason,
    LabelUsage,
    LiveLimits,
    MemberUsage,
    Period,
    SessionRepository,
    UsageBucket,
    UsageRepository,
    UsageTotals,
)

from .conftest import T0, FakeClock
from .helpers import new_session

DAY = 86_400
DAY0 = T0 - T0 % DAY  # reports count whole local days (UTC here): the first day's midnight
WEEK = Period(DAY0, DAY0 + 7 * DAY)


@pytest.fixture
async def history(db: Database, clock: FakeClock) -> SessionRepository:
    """Guild 1: three settled sessions over two days, one released, one live; guild 2: one."""
    sessions = SessionRepository(db, clock)
    plan = [
        # (day, member, label, used seconds or None for released, end reason)
        (0, 1, "Ada", 100, EndReason.MEMBER_ENDED),
        (0, 2, "Ada", 300, EndReason.TIME_LIMIT),
        (1, 1, "Bob", 50, EndReason.MEMBER_ENDED),
        (1, 2, "Bob", None, EndReason.START_FAILED),
    ]
    for day, member, label, used, reason in plan:
        clock.now = DAY0 + day * DAY + 10
        session = await sessions.reserve(
            new_session(member_id=member, avatar_label=label), LiveLimits()
        )
        if used is None:
            await sessions.release(session.id, reason)
        else:
            await sessions.settle(
                session.id, used_seconds=used, end_reason=reason, ended_at=clock.now + used
            )
    await sessions.reserve(new_session(member_id=3, max_seconds=240), LiveLimits())
    other = await sessions.reserve(new_session(guild_id=2), LiveLimits())
    await sessions.settle(other.id, used_seconds=999, end_reason=EndReason.COMPLETED, ended_at=0)
    return sessions


async def test_totals_for_guild_and_member(db: Database, history: SessionRepository) -> None:
    usage = UsageRepository(db)
    assert await usage.totals(1, WEEK) == UsageTotals(3, 450, 1, 240)
    assert await usage.totals(1, WEEK, member_id=1) == UsageTotals(2, 150, 0, 0)
    assert await usage.totals(1, Period(DAY0, DAY0 + DAY)) == UsageTotals(2, 400, 0, 0)


async def test_days_follow_the_boundaries_given(db: Database, history: SessionRepository) -> None:
    usage = UsageRepository(db)
    boundaries = [DAY0 + 2 * DAY, DAY0, DAY0 + DAY]  # order does not matter
    assert (await usage.summary(1, WEEK, boundaries)).buckets == [
        UsageBucket(Period(DAY0, DAY0 + DAY), 2, 400),
        UsageBucket(Period(DAY0 + DAY, DAY0 + 2 * DAY), 1, 50),
    ]
    assert (await usage.summary(1, WEEK, boundaries, member_id=2)).buckets == [
        UsageBucket(Period(DAY0, DAY0 + DAY), 1, 300),
        UsageBucket(Period(DAY0 + DAY, DAY0 + 2 * DAY), 0, 0),
    ]
    assert (await usage.summary(1, WEEK, [DAY0])).buckets == []


async def test_top_members_avatars_and_end_reasons(
    db: Database, history: SessionRepository
) -> None:
    usage = UsageRepository(db)
    server = await usage.summary(1, WEEK, [])
    assert server.totals == UsageTotals(3, 450, 1, 240)
    assert server.top_members == [MemberUsage(2, 1, 300), MemberUsage(1, 2, 150)]
    assert (await usage.summary(1, WEEK, [], top=1)).top_members == [MemberUsage(2, 1, 300)]
    assert server.top_avatars == [LabelUsage("Ada", 2, 400), LabelUsage("Bob", 1, 50)]
    member = await usage.summary(1, WEEK, [], member_id=1)
    assert member.top_members == []  # a member's own report ranks nobody
    assert member.top_avatars == [LabelUsage("Ada", 1, 100), LabelUsage("Bob", 1, 50)]
    assert server.end_reasons == [
        LabelUsage("member_ended", 2, 150),
        LabelUsage("start_failed", 1, 0),
        LabelUsage("time_limit", 1, 300),
    ]
    assert member.end_reasons == [LabelUsage("member_ended", 2, 150)]


async def test_in_period_lists_sessions_for_export(history: SessionRepository) -> None:
    listed = await history.in_period(1, WEEK)
    assert [s.avatar_label for s in listed] == ["Ada", "Ada", "Bob", "Bob", "cooking-teacher"]
    assert [s.member_id for s in await history.in_period(1, WEEK, member_id=2)] == [2, 2]
    assert await history.in_period(1, Period(DAY0 - DAY, DAY0)) == []
