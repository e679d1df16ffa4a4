"""Sessions below Discord: reservation, one-time join codes, and settling to real seconds."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import InvalidInput, LimitReached, NotFound
from bot.services.actors import Actor
from bot.services.avatars import AvatarDraft, ImageUpload
from bot.services.billable import NotCreated
from bot.services.join_types import JoinState
from bot.services.sessions import PRESET_PREFIX
from bot.services.tracker import SessionTracker
from bot.storage import EndReason, Period, SessionRepository, SessionState, UsageRepository
from tests.services.conftest import ADMIN, GUILD, MEMBER, World, png

PRESET = PRESET_PREFIX + "cooking-teacher"


def code_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def start(world: World, actor: Actor = MEMBER, minutes: int | None = None):
    target = await world.services.sessions.target(GUILD, PRESET)
    return await world.services.sessions.start(GUILD, actor, target, minutes=minutes)


async def test_start_reserves_creates_and_links(world: World) -> None:
    started = await start(world, minutes=2)
    assert started.session.state is SessionState.OPEN
    assert started.session.max_seconds == 120
    assert started.join_url.startswith("https://bot.example.org/join/")
    code = code_of(started.join_url)
    assert len(code) >= 32  # 24 random bytes, URL-safe base64
    stored = await SessionRepository(world.database).get(GUILD, started.session.id)
    assert stored is not None
    assert stored.join_code_hash is not None
    assert code.encode() not in stored.join_code_hash  # only the hash is kept


async def test_view_never_uses_the_code_and_redeem_works_once(world: World) -> None:
    started = await start(world)
    code = code_of(started.join_url)
    for _ in range(3):
        state, view = await world.services.sessions.view(code)
        assert state is JoinState.OK
        assert view is not None
        assert view.avatar_name.startswith("Cooking Teacher")
    state, credentials = await world.services.sessions.redeem(code)
    assert state is JoinState.OK
    assert credentials is not None
    assert credentials.token
    assert credentials.url.startswith("wss://")
    again, nothing = await world.services.sessions.redeem(code)
    assert (again, nothing) == (JoinState.USED, None)
    assert (await world.services.sessions.view(code))[0] is JoinState.IN_USE
    assert (await world.services.sessions.redeem("x" * 32))[0] is JoinState.UNKNOWN


async def test_one_live_session_per_member(world: World) -> None:
    await start(world)
    with pytest.raises(LimitReached) as caught:
        await start(world)
    assert "/session end" in caught.value.user_message


async def test_server_concurrency_limit_holds_under_a_burst(world: World) -> None:
    members = [Actor(user_id=500 + n) for n in range(10)]
    results = await asyncio.gather(*(start(world, m) for m in members), return_exceptions=True)
    started = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert len(started) == 3
    assert len(refused) == 7


async def test_runway_failure_releases_the_reservation(world: World) -> None:
    world.sandbox.inject("POST", "/v1/realtime_sessions", status=500, times=1)
    with pytest.raises(NotCreated):
        await start(world)
    assert await world.services.sessions.live(GUILD, MEMBER) == []
    assert (await start(world)).session.state is SessionState.OPEN


async def test_completed_session_is_settled_to_runways_duration(world: World) -> None:
    started = await start(world)
    settled: list[int] = []

    async def listen(session) -> None:
        settled.append(session.used_seconds)

    world.services.tracker.on_settled(listen)
    await world.services.sessions.redeem(code_of(started.join_url))
    assert started.session.runway_id
    world.sandbox.end_session(started.session.runway_id, after_seconds=42)
    await world.services.tracker.sweep()
    await world.services.tracker.sweep()  # a second sweep changes nothing
    final = await SessionRepository(world.database).get(GUILD, started.session.id)
    assert final is not None
    assert final.state is SessionState.SETTLED
    assert final.used_seconds == 42
    assert final.end_reason is EndReason.COMPLETED
    assert settled == [42]
    usage = await UsageRepository(world.database).totals(
        GUILD, Period(start=0, end=2**40), member_id=MEMBER.user_id
    )
    assert usage.settled_seconds == 42
    assert (await world.services.sessions.view(code_of(started.join_url)))[0] is JoinState.ENDED


async def test_failed_session_costs_nothing(world: World) -> None:
    started = await start(world)
    assert started.session.runway_id
    world.sandbox.fail_session(started.session.runway_id)
    await world.services.tracker.sweep()
    final = await SessionRepository(world.database).get(GUILD, started.session.id)
    assert final is not None
    assert (final.used_seconds, final.end_reason) == (0, EndReason.FAILED)


async def test_end_cancels_at_runway_and_settles(world: World) -> None:
    started = await start(world)
    await world.services.sessions.redeem(code_of(started.join_url))
    ended = await world.services.sessions.end(GUILD, MEMBER)
    assert ended.state is SessionState.SETTLED
    assert ended.end_reason is EndReason.MEMBER_ENDED
    assert world.sandbox.handled("DELETE", "/v1/realtime_sessions/{id}") == 1
    with pytest.raises(NotFound):
        await world.services.sessions.end(GUILD, MEMBER)


async def test_never_joined_session_is_cancelled_for_free(world: World) -> None:
    started = await start(world)
    repo = SessionRepository(world.database)
    later = SessionTracker(
        sessions=repo, runway=world.runway, clock=lambda: started.session.created_at + 10_000
    )
    await later.sweep()
    final = await repo.get(GUILD, started.session.id)
    assert final is not None
    assert (final.used_seconds, final.end_reason) == (0, EndReason.NEVER_READY)
    assert world.sandbox.handled("DELETE", "/v1/realtime_sessions/{id}") == 1


async def test_a_fresh_tracker_resumes_open_sessions_exactly_once(world: World) -> None:
    started = await start(world)
    await world.services.sessions.redeem(code_of(started.join_url))
    assert started.session.runway_id
    world.sandbox.end_session(started.session.runway_id, after_seconds=30)
    repo = SessionRepository(world.database)
    first = SessionTracker(sessions=repo, runway=world.runway)
    second = SessionTracker(sessions=repo, runway=world.runway)
    counted: list[int] = []

    async def count(session) -> None:
        counted.append(session.id)

    first.on_settled(count)
    second.on_settled(count)
    await asyncio.gather(first.sweep(), second.sweep())
    assert counted == [started.session.id]


async def test_unusable_avatar_cannot_be_called(world: World) -> None:
    with pytest.raises(NotFound):
        await world.services.sessions.target(GUILD, "no such avatar")
    with pytest.raises(NotFound):
        await world.services.sessions.target(GUILD, PRESET_PREFIX + "no-such-preset")


async def test_seed_hands_over_stored_credentials_and_settles_by_clock(seed_world: World) -> None:
    target = await seed_world.services.sessions.target(GUILD, PRESET)
    started = await seed_world.services.sessions.start(GUILD, MEMBER, target, minutes=10)
    assert started.session.max_seconds == 300  # the seed's maximum
    code = code_of(started.join_url)
    state, credentials = await seed_world.services.sessions.redeem(code)
    assert state is JoinState.OK
    assert credentials is not None
    assert credentials.token
    await seed_world.services.sessions.ended(code, "member_ended")
    final = await SessionRepository(seed_world.database).get(GUILD, started.session.id)
    assert final is not None
    assert final.state is SessionState.SETTLED
    assert final.end_reason is EndReason.MEMBER_ENDED
    assert final.used_seconds is not None
    assert final.used_seconds <= 2


async def test_pending_avatar_is_refused_with_the_reason(world: World) -> None:
    await world.services.guilds.update(GUILD, approval_required=True)

    async def quiet(_: str) -> None:
        return None

    created = await world.services.avatars.create(
        GUILD,
        ADMIN,
        AvatarDraft(name="Nova", personality="Guide.", voice="luna"),
        ImageUpload(data=png(), url="https://cdn.example.org/n.png"),
        progress=quiet,
    )
    with pytest.raises(InvalidInput) as caught:
        await world.services.sessions.target(GUILD, str(created.avatar.id))
    assert "approval" in caught.value.user_message


SECRET = "s" * 43


async def test_the_joining_browser_can_rejoin_with_its_secret_and_nobody_else(
    world: World,
) -> None:
    started = await start(world)
    code = code_of(started.join_url)
    sessions = world.services.sessions

    first, credentials = await sessions.redeem(code, SECRET)
    again, same = await sessions.redeem(code, SECRET)
    other, nothing = await sessions.redeem(code, "t" * 43)
    bare, none = await sessions.redeem(code)
    page, _ = await sessions.view(code)

    assert (first, again, other, bare, page) == (
        JoinState.OK,
        JoinState.OK,
        JoinState.USED,
        JoinState.USED,
        JoinState.IN_USE,
    )
    assert credentials is not None
    assert same is not None
    assert (same.url, same.token, same.room_name) == (
        credentials.url,
        credentials.token,
        credentials.room_name,
    )
    assert nothing is None
    assert none is None
    assert world.sandbox.handled("POST", "/v1/realtime_sessions/{id}/consume") == 1
    stored = await SessionRepository(world.database).get(GUILD, started.session.id)
    assert stored is not None
    assert stored.join_credentials is not None
    assert credentials.token.encode() not in stored.join_credentials  # sealed, not stored plain

    await sessions.end(GUILD, MEMBER)
    ended = await SessionRepository(world.database).get(GUILD, started.session.id)
    assert ended is not None
    assert ended.join_credentials is None  # forgotten with the session
    assert (await sessions.redeem(code, SECRET))[0] is JoinState.ENDED
