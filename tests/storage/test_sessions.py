"""Sessions: atomic reservations under concurrency, idempotent settling, one-time join codes."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.settings import Dialect
from bot.storage import (
    AvatarRepository,
    Database,
    EndReason,
    LimitReached,
    LiveLimits,
    NewSession,
    NotFoundError,
    Period,
    SessionRepository,
    SessionState,
    UsageQuery,
    UsageSnapshot,
)
from bot.storage.transaction import WriteTx

from .conftest import T0, FakeClock
from .helpers import insert_session, new_avatar, new_session

CODE = b"\x01" * 32


async def open_session(sessions: SessionRepository, new: NewSession, code: bytes = CODE) -> int:
    reserved = await sessions.reserve(new, LiveLimits())
    opened = await sessions.mark_open(
        reserved.id, runway_id=f"rw-{reserved.id}", join_code_hash=code, code_expires_at=T0 + 300
    )
    assert opened is not None
    return opened.id


async def test_reserve_records_a_reservation(db: Database, clock: FakeClock) -> None:
    session = await SessionRepository(db, clock).reserve(new_session(), LiveLimits(1, 1))
    assert session.state is SessionState.RESERVED
    assert session.live
    assert (session.runway_id, session.used_seconds, session.ended_at) == (None, None, None)
    assert session.created_at == T0


async def test_member_and_guild_limits_name_the_limit_reached(db: Database) -> None:
    sessions = SessionRepository(db)
    limits = LiveLimits(max_live_per_member=1, max_live_per_guild=2)
    await sessions.reserve(new_session(member_id=1), limits)
    with pytest.raises(LimitReached) as member:
        await sessions.reserve(new_session(member_id=1), limits)
    assert (member.value.limit, member.value.allowed, member.value.current) == ("member_live", 1, 1)
    await sessions.reserve(new_session(member_id=2), limits)
    with pytest.raises(LimitReached) as guild:
        await sessions.reserve(new_session(member_id=3), limits)
    assert (guild.value.limit, guild.value.allowed, guild.value.current) == ("guild_live", 2, 2)
    # Another guild has its own count; zero means none allowed.
    await sessions.reserve(new_session(guild_id=2, member_id=1), limits)
    with pytest.raises(LimitReached):
        await sessions.reserve(new_session(guild_id=3), LiveLimits(max_live_per_guild=0))


async def test_concurrent_reservations_never_overshoot(db: Database) -> None:
    sessions = SessionRepository(db)
    results = await asyncio.gather(
        *(sessions.reserve(new_session(member_id=n), LiveLimits(None, 3)) for n in range(50)),
        return_exceptions=True,
    )
    assert sum(not isinstance(result, BaseException) for result in results) == 3
    assert all(isinstance(r, LimitReached) for r in results if isinstance(r, BaseException))
    assert len(await sessions.live_for_guild(1)) == 3


async def test_one_member_bursting_gets_one_session(db: Database) -> None:
    sessions = SessionRepository(db)
    results = await asyncio.gather(
        *(sessions.reserve(new_session(member_id=7), LiveLimits(1, 10)) for _ in range(30)),
        return_exceptions=True,
    )
    assert sum(not isinstance(result, BaseException) for result in results) == 1


async def test_two_connections_racing_on_one_file_never_overshoot(db_path: Path) -> None:
    async with Database.open(db_path) as first, Database.open(db_path) as second:
        repos = [SessionRepository(first), SessionRepository(second)]
        results = await asyncio.gather(
            *(
                repos[n % 2].reserve(new_session(member_id=n), LiveLimits(None, 3))
                for n in range(50)
            ),
            return_exceptions=True,
        )
        assert sum(not isinstance(result, BaseException) for result in results) == 3
        assert len(await repos[0].live_for_guild(1)) == 3


async def test_ending_a_session_frees_its_slot(db: Database) -> None:
    sessions = SessionRepository(db)
    limits = LiveLimits(max_live_per_member=1)
    first = await sessions.reserve(new_session(), limits)
    assert await sessions.release(first.id, EndReason.START_FAILED)
    second = await open_session(sessions, new_session())
    with pytest.raises(LimitReached):
        await sessions.reserve(new_session(), limits)
    assert await sessions.settle(
        second, used_seconds=42, end_reason=EndReason.MEMBER_ENDED, ended_at=T0 + 50
    )
    await sessions.reserve(new_session(), limits)


async def test_reserving_another_guilds_avatar_is_refused(db: Database) -> None:
    avatar = await AvatarRepository(db).add(new_avatar(guild_id=2))
    with pytest.raises(NotFoundError):
        await SessionRepository(db).reserve(
            new_session(guild_id=1, avatar_id=avatar.id, preset_id=None), LiveLimits()
        )


async def test_mark_open_only_from_reserved(db: Database) -> None:
    sessions = SessionRepository(db)
    reserved = await sessions.reserve(new_session(), LiveLimits())
    opened = await sessions.mark_open(
        reserved.id,
        runway_id="rw-1",
        join_code_hash=CODE,
        code_expires_at=T0 + 300,
        seed_credentials='{"url": "wss://lk", "token": "t"}',
    )
    assert opened is not None
    assert (opened.state, opened.runway_id, opened.join_code_hash) == (
        SessionState.OPEN,
        "rw-1",
        CODE,
    )
    again = await sessions.mark_open(
        reserved.id, runway_id="rw-2", join_code_hash=b"\x02" * 32, code_expires_at=T0
    )
    assert again is None


async def test_settle_is_idempotent(db: Database) -> None:
    sessions = SessionRepository(db)
    session_id = await open_session(sessions, new_session())
    outcomes = await asyncio.gather(
        *(
            sessions.settle(
                session_id, used_seconds=60 + n, end_reason=EndReason.COMPLETED, ended_at=T0 + n
            )
            for n in range(10)
        )
    )
    assert outcomes.count(True) == 1
    settled = await sessions.get(1, session_id)
    assert settled is not None
    assert settled.state is SessionState.SETTLED
    assert settled.used_seconds == 60 + outcomes.index(True)
    assert settled.seed_credentials is None
    assert await sessions.release(session_id, EndReason.FAILED) is False
    assert (await sessions.get(1, session_id)) == settled


async def test_a_released_session_cannot_be_settled(db: Database) -> None:
    sessions = SessionRepository(db)
    reserved = await sessions.reserve(new_session(), LiveLimits())
    assert await sessions.release(reserved.id, EndReason.START_FAILED)
    assert await sessions.release(reserved.id, EndReason.START_FAILED) is False
    assert not await sessions.settle(
        reserved.id, used_seconds=10, end_reason=EndReason.COMPLETED, ended_at=T0
    )
    released = await sessions.get(1, reserved.id)
    assert released is not None
    assert (released.state, released.used_seconds, released.end_reason) == (
        SessionState.RELEASED,
        None,
        EndReason.START_FAILED,
    )


async def test_a_join_code_works_once_and_only_before_it_expires(db: Database) -> None:
    sessions = SessionRepository(db)
    session_id = await open_session(sessions, new_session())
    looked_up = await sessions.find_by_join_code(CODE)  # showing the page does not use it
    assert looked_up is not None
    assert looked_up.code_used_at is None

    assert await sessions.use_join_code(CODE, T0 + 300) is None  # expired at T0 + 300
    results = await asyncio.gather(*(sessions.use_join_code(CODE, T0 + 10) for _ in range(20)))
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert (winners[0].id, winners[0].code_used_at) == (session_id, T0 + 10)
    assert await sessions.use_join_code(CODE, T0 + 11) is None
    assert await sessions.use_join_code(b"\x09" * 32, T0 + 10) is None


async def test_a_join_code_of_an_ended_session_is_refused(db: Database) -> None:
    sessions = SessionRepository(db)
    session_id = await open_session(sessions, new_session())
    await sessions.settle(session_id, used_seconds=5, end_reason=EndReason.FAILED, ended_at=T0)
    assert await sessions.use_join_code(CODE, T0 + 1) is None


async def test_mark_consumed_records_the_first_time_only(db: Database) -> None:
    sessions = SessionRepository(db)
    session_id = await open_session(sessions, new_session())
    assert await sessions.mark_consumed(session_id, T0 + 5)
    assert await sessions.mark_consumed(session_id, T0 + 9) is False
    session = await sessions.get(1, session_id)
    assert session is not None
    assert session.consumed_at == T0 + 5


async def test_open_sessions_and_live_lists(db: Database) -> None:
    sessions = SessionRepository(db)
    a = await sessions.reserve(new_session(guild_id=1, member_id=1), LiveLimits())
    b = await open_session(sessions, new_session(guild_id=2, member_id=1), code=b"\x03" * 32)
    c = await sessions.reserve(new_session(guild_id=1, member_id=2), LiveLimits())
    ended = await sessions.reserve(new_session(guild_id=1, member_id=1), LiveLimits())
    await sessions.release(ended.id, EndReason.START_FAILED)

    assert [s.id for s in await sessions.open_sessions()] == [a.id, b, c.id]
    assert [s.id for s in await sessions.live_for_guild(1)] == [a.id, c.id]
    assert [s.id for s in await sessions.live_for_member(1, 1)] == [a.id]
    assert await sessions.get(2, a.id) is None


@dataclass
class DailyBudget:
    """A richer policy of the kind the quota service will bring: budgets and a cooldown."""

    guild_seconds: int
    member_seconds: int
    cooldown: int
    seen: list[UsageSnapshot] = field(default_factory=list)

    @staticmethod
    def day_of(now: int) -> Period:
        """The UTC day: admission counts whole local days, as the rollups do."""
        start = now - now % 86_400
        return Period(start, start + 86_400)

    def usage_query(self, now: int) -> UsageQuery:
        return UsageQuery(periods=(self.day_of(now),), member_last_end=True)

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None:
        self.seen.append(usage)
        day = self.day_of(now)
        used = usage.periods[day]
        if used.guild_seconds + request.max_seconds > self.guild_seconds:
            raise LimitReached("guild_day", self.guild_seconds, used.guild_seconds, day.end)
        if used.member_seconds + request.max_seconds > self.member_seconds:
            raise LimitReached("member_day", self.member_seconds, used.member_seconds, day.end)
        last = usage.member_last_ended_at
        if self.cooldown and last is not None and now < last + self.cooldown:
            raise LimitReached("cooldown", self.cooldown, now - last, last + self.cooldown)


async def test_a_richer_policy_sees_period_sums_and_the_last_end(
    db: Database, clock: FakeClock
) -> None:
    sessions = SessionRepository(db, clock)
    day = DailyBudget.day_of(T0)
    policy = DailyBudget(guild_seconds=1000, member_seconds=600, cooldown=60)

    first = await sessions.reserve(new_session(member_id=1, max_seconds=300), policy)
    await sessions.settle(first.id, used_seconds=120, end_reason=EndReason.COMPLETED, ended_at=T0)
    with pytest.raises(LimitReached) as cooling:
        await sessions.reserve(new_session(member_id=1, max_seconds=300), policy)
    assert (cooling.value.limit, cooling.value.frees_at) == ("cooldown", T0 + 60)

    clock.now = T0 + 60
    await sessions.reserve(new_session(member_id=1, max_seconds=300), policy)  # 120 + 300 live
    released = await sessions.reserve(new_session(member_id=2, max_seconds=300), policy)
    await sessions.release(released.id, EndReason.START_FAILED)  # costs nothing
    with pytest.raises(LimitReached) as member:
        await sessions.reserve(new_session(member_id=1, max_seconds=300), policy)
    assert member.value.limit == "member_day"
    await sessions.reserve(new_session(member_id=3, max_seconds=500), policy)  # guild: 920
    with pytest.raises(LimitReached) as guild:
        await sessions.reserve(new_session(member_id=4, max_seconds=100), policy)
    assert (guild.value.limit, guild.value.current, guild.value.frees_at) == (
        "guild_day",
        920,
        day.end,
    )
    # Yesterday's and other guilds' sessions do not count.
    clock.now = day.end
    await sessions.reserve(new_session(member_id=4, max_seconds=100), policy)


_guild_ids = itertools.count(1000)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(1, 3),  # member
            st.sampled_from([-1, 0, 1, 86_399, 86_400]),  # started, relative to the day
            st.sampled_from(["RESERVED", "OPEN", "SETTLED", "RELEASED"]),
            st.integers(1, 600),  # max seconds
            st.integers(0, 700),  # used seconds, when settled
        ),
        max_size=12,
    )
)
async def test_period_sums_match_a_plain_model(
    db: Database, rows: list[tuple[int, int, str, int, int]]
) -> None:
    guild = next(_guild_ids)
    period = DailyBudget.day_of(T0)

    def insert(tx: WriteTx) -> None:
        for n, (member, offset, state, max_seconds, used) in enumerate(rows):
            insert_session(
                tx,
                guild_id=guild,
                member_id=member,
                state=state,
                max_seconds=max_seconds,
                used_seconds=used,
                runway_id=None if state == "RESERVED" else f"{guild}-{n}",
                created_at=period.start + offset,
                ended_at=period.start + offset + 1,
            )

    await db.write(insert)
    policy = DailyBudget(guild_seconds=10**9, member_seconds=10**9, cooldown=0)
    await SessionRepository(db, FakeClock(period.end - 1)).reserve(
        new_session(guild_id=guild, member_id=1), policy
    )
    seen = policy.seen[0]

    def charge(state: str, max_seconds: int, used: int) -> int:
        return {"SETTLED": used, "RELEASED": 0}.get(state, max_seconds)

    in_period = [r for r in rows if 0 <= r[1] < 86_400]
    assert seen.periods[period].guild_seconds == sum(charge(*r[2:]) for r in in_period)
    assert seen.periods[period].member_seconds == sum(
        charge(*r[2:]) for r in in_period if r[0] == 1
    )
    assert seen.guild_live == sum(r[2] in ("RESERVED", "OPEN") for r in rows)
    assert seen.member_live == sum(r[2] in ("RESERVED", "OPEN") and r[0] == 1 for r in rows)
    ends = [period.start + r[1] + 1 for r in rows if r[0] == 1 and r[2] == "SETTLED"]
    assert seen.member_last_ended_at == (max(ends) if ends else None)


async def test_the_reservation_returned_matches_the_row_stored(db: Database) -> None:
    avatar = await AvatarRepository(db).add(new_avatar())
    sessions = SessionRepository(db)
    reserved = await sessions.reserve(
        new_session(avatar_id=avatar.id, preset_id=None, dialect=Dialect.SEED), LiveLimits()
    )
    assert await sessions.get(1, reserved.id) == reserved
