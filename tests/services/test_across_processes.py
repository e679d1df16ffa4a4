"""Several bot processes on one database: each "process" is a `Database` instance of its own
(its own connections, its own group commit, its own services), all on the same file or the
same PostgreSQL database, against one Runway sandbox. What must hold across processes is
checked here on both engines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import LimitReached
from bot.runway.sandbox import Sandbox
from bot.services.actors import Actor
from bot.services.join_types import JoinState
from bot.services.sessions import PRESET_PREFIX, SlotsBusy
from bot.services.tracker import SessionTracker
from bot.settings import Dialect
from bot.storage import EndReason, LiveLimits, Session, SessionRepository, SessionState
from bot.storage.quotas import QuotaName
from bot.storage.sql import Engine
from tests.services.conftest import ADMIN, GUILD, World, open_world
from tests.storage.helpers import new_session

PROCESSES = 3
PRESET = PRESET_PREFIX + "cooking-teacher"


@contextlib.asynccontextmanager
async def cluster(
    sandbox: Sandbox, target: str | Path, count: int = PROCESSES, **options: Any
) -> AsyncIterator[list[World]]:
    """`count` processes' services on the database at `target`."""
    async with contextlib.AsyncExitStack() as stack:
        worlds = []
        for _ in range(count):
            source = open_world(sandbox, target, Dialect.PRODUCTION, **options)
            await stack.enter_async_context(contextlib.aclosing(source))
            worlds.append(await anext(source))
        yield worlds


async def test_starts_at_several_processes_never_overshoot_any_limit(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    guilds = [7001, 7002, 7003, 7004]
    members = range(1, 7)
    async with cluster(
        production_sandbox, database_target, max_live_per_guild=2, runway_max_live_sessions=5
    ) as worlds:
        for guild in guilds:  # one live call per member is the default
            await worlds[0].services.quotas.set_limit(guild, ADMIN, QuotaName.GUILD_LIVE, 2)

        async def start(n: int, guild: int, member: int) -> str:
            services = worlds[n % PROCESSES].services
            target = await services.sessions.target(guild, PRESET)
            try:
                await services.sessions.start(guild, Actor(user_id=member), target)
            except SlotsBusy:
                return "account"
            except LimitReached as refused:
                return refused.limit
            return "started"

        attempts = [(guild, member) for guild in guilds for member in members for _ in range(2)]
        outcomes = Counter(
            await asyncio.gather(
                *(start(n, guild, member) for n, (guild, member) in enumerate(attempts))
            )
        )
        live = await worlds[1].database.fetch_all(
            "SELECT guild_id, member_id FROM sessions WHERE state IN ('RESERVED', 'OPEN')"
        )
    per_guild = Counter(row[0] for row in live)
    per_member = Counter((row[0], row[1]) for row in live)
    assert len(live) == outcomes["started"] == 5, outcomes  # the account's five slots, no more
    assert max(per_guild.values()) <= 2
    assert max(per_member.values()) == 1
    assert sum(outcomes.values()) == len(attempts)


def code_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def wait_for(condition: Callable[[], Awaitable[bool]], seconds: float) -> float:
    """Poll `condition` until it holds; how long that took. Fails after `seconds`."""
    began = time.monotonic()
    while not await condition():
        assert time.monotonic() - began < seconds, "timed out"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


def crash(tracker: SessionTracker) -> Awaitable[None]:
    """Stop a tracker as a SIGKILL would: its loops end, its lease is not let go."""
    lease = tracker._lease
    assert lease is not None

    async def stop() -> None:
        await tracker._loop.stop()
        await lease._loop.stop()

    return stop()


async def test_one_process_settles_and_a_survivor_takes_over_when_the_leader_dies(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    lease = 2
    async with cluster(
        production_sandbox,
        database_target,
        2,
        tracker_poll_seconds=0.1,
        lease_seconds=lease,
        max_live_per_guild=5,
    ) as worlds:
        if worlds[0].database.engine is Engine.SQLITE:
            pytest.skip("one process runs on an SQLite file: it leads alone, with no lease")
        announced: Counter[int] = Counter()
        trackers = [world.services.tracker for world in worlds]
        for tracker in trackers:

            async def count(session: Session) -> None:
                announced[session.id] += 1

            tracker.on_settled(count)
            tracker.start()
        await wait_for(lambda: _true(any(t.leads for t in trackers)), lease * 3)
        assert [t.leads for t in trackers].count(True) == 1
        leader = next(t for t in trackers if t.leads)
        survivor = next(t for t in trackers if not t.leads)

        services = worlds[0].services
        target = await services.sessions.target(GUILD, PRESET)
        calls = []
        for member in range(1, 5):
            started = await services.sessions.start(GUILD, Actor(user_id=member), target)
            await services.sessions.redeem(code_of(started.join_url))
            calls.append(started.session)
        # The leader settles the first call; then it dies with three calls still running.
        assert calls[0].runway_id
        production_sandbox.end_session(calls[0].runway_id, after_seconds=20)
        await wait_for(lambda: _true(announced[calls[0].id] == 1), 5)
        await crash(leader)
        for call in calls[1:]:
            assert call.runway_id
            production_sandbox.end_session(call.runway_id, after_seconds=20)

        async def all_settled() -> bool:
            rows = await worlds[1].database.fetch_all(
                "SELECT count(*) FROM sessions WHERE state = 'SETTLED'"
            )
            return bool(rows[0][0] == len(calls)) and sum(announced.values()) == len(calls)

        took = await wait_for(all_settled, lease * 3)
        assert survivor.leads
        assert took <= lease * 1.5 + 1  # the lease runs out, the survivor's next try takes it
        await asyncio.sleep(0.5)  # nothing announced twice afterwards either
        assert announced == dict.fromkeys((call.id for call in calls), 1)
        await survivor.stop()


async def test_a_lease_let_go_at_shutdown_is_taken_at_once(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    async with cluster(production_sandbox, database_target, 2, lease_seconds=60) as worlds:
        if worlds[0].database.engine is Engine.SQLITE:
            pytest.skip("one process runs on an SQLite file: it leads alone, with no lease")
        first, second = (world.services.tracker for world in worlds)
        first.start()
        await wait_for(lambda: _true(first.leads), 5)
        second.start()
        await asyncio.sleep(0.2)
        assert not second.leads  # 60 s lease: the second process only follows
        await first.stop()
        await wait_for(lambda: _true(second.leads), 2)
        await second.stop()


async def test_news_of_a_call_wakes_the_leader_at_another_process_at_once(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    # Polls every minute: only NOTIFY can make this quick.
    async with cluster(
        production_sandbox, database_target, 2, tracker_poll_seconds=60, lease_seconds=60
    ) as worlds:
        if worlds[0].database.engine is Engine.SQLITE:
            pytest.skip("one process runs on an SQLite file: nothing to wake across")
        leader, other = (world.services.tracker for world in worlds)
        announced: list[int] = []

        async def count(session: Session) -> None:
            announced.append(session.id)

        for tracker in (leader, other):
            tracker.on_settled(count)
        leader.start()
        await wait_for(lambda: _true(leader.leads), 5)
        other.start()
        await asyncio.sleep(0.5)  # both listen; the leader swept once
        sweeps = 0
        sweep = leader.sweep

        async def counted_sweep() -> None:
            nonlocal sweeps
            sweeps += 1
            await sweep()

        leader.sweep = counted_sweep  # type: ignore[method-assign]
        services = worlds[1].services
        started = await services.sessions.start(
            GUILD, Actor(user_id=5), await services.sessions.target(GUILD, PRESET)
        )
        await wait_for(lambda: _true(sweeps == 1), 5)  # a call opened elsewhere
        await services.sessions.redeem(code_of(started.join_url))
        await services.sessions.ended(code_of(started.join_url), "member_ended")
        await wait_for(lambda: _true(sweeps == 2), 5)  # the page reported an end elsewhere
        assert started.session.runway_id
        production_sandbox.end_session(started.session.runway_id, after_seconds=12)
        # The other process settles it, say checking on a /session end; from the row, which
        # says how the page saw the call end.
        noted = await SessionRepository(worlds[1].database).by_id(started.session.id)
        assert noted is not None
        assert noted.end_hint is EndReason.MEMBER_ENDED
        await other.check(noted)
        await wait_for(lambda: _true(len(announced) == 1), 5)
        final = await SessionRepository(worlds[0].database).by_id(started.session.id)
        assert final is not None
        assert (final.state, final.end_reason) == (SessionState.SETTLED, EndReason.MEMBER_ENDED)
        await asyncio.sleep(0.3)
        assert announced == [started.session.id]
        await other.stop()
        await leader.stop()


async def test_how_the_page_saw_a_call_end_reaches_the_process_that_settles_it(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    async with cluster(production_sandbox, database_target, 2) as worlds:
        services = worlds[0].services
        target = await services.sessions.target(GUILD, PRESET)
        started = await services.sessions.start(GUILD, Actor(user_id=3), target)
        await services.sessions.redeem(code_of(started.join_url))
        # The join page reports at the first process; Runway still says the call runs.
        await services.tracker.note_end(started.session, EndReason.MEMBER_ENDED)
        assert started.session.runway_id
        production_sandbox.end_session(started.session.runway_id, after_seconds=42)
        await worlds[1].services.tracker.sweep()  # the other process leads and settles
        final = await SessionRepository(worlds[1].database).by_id(started.session.id)
    assert final is not None
    assert (final.state, final.end_reason, final.used_seconds) == (
        SessionState.SETTLED,
        EndReason.MEMBER_ENDED,
        42,
    )


async def _true(value: bool) -> bool:
    return value


async def test_an_end_left_unannounced_by_a_dead_process_is_announced_once_by_another(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    async with cluster(production_sandbox, database_target, max_live_per_guild=10) as worlds:
        services = worlds[0].services
        target = await services.sessions.target(GUILD, PRESET)
        calls = [
            (await services.sessions.start(GUILD, Actor(user_id=member), target)).session
            for member in range(1, 9)
        ]
        # The first process settles every call and dies before announcing any.
        sessions = SessionRepository(worlds[0].database)
        for call in calls:
            assert await sessions.settle(
                call.id, used_seconds=0, end_reason=EndReason.FAILED, ended_at=1, announce=True
            )
        assert not await sessions.settle(
            calls[0].id, used_seconds=9, end_reason=EndReason.FAILED, ended_at=1, announce=True
        )  # a second settle neither counts nor announces
        announced: Counter[int] = Counter()

        async def count(session: Session) -> None:
            announced[session.id] += 1

        survivors = [world.services.tracker for world in worlds[1:]]
        for tracker in survivors:
            tracker.on_settled(count)
        claimed = await asyncio.gather(*(tracker.announce() for tracker in survivors))
        assert sum(claimed) == len(calls)
        assert announced == dict.fromkeys((call.id for call in calls), 1)
        assert await survivors[0].announce() == 0


async def test_a_join_code_is_redeemed_once_whichever_process_gets_the_posts(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    async with cluster(production_sandbox, database_target, 2, max_live_per_guild=10) as worlds:
        services = worlds[0].services
        target = await services.sessions.target(GUILD, PRESET)
        codes = [
            code_of((await services.sessions.start(GUILD, Actor(user_id=m), target)).join_url)
            for m in range(1, 6)
        ]
        secrets_ = [f"{n:043d}" for n in range(6)]  # each POST from a browser of its own
        posts = [
            (code, secret, worlds[n % 2].services.sessions)
            for code in codes
            for n, secret in enumerate(secrets_)
        ]
        answers = await asyncio.gather(
            *(sessions.redeem(code, secret) for code, secret, sessions in posts)
        )
        winners: dict[str, str] = {}
        for (code, secret, _), (state, credentials) in zip(posts, answers, strict=True):
            if state is JoinState.OK:
                assert credentials is not None
                assert code not in winners, "a code handed out credentials twice"
                winners[code] = secret
            else:
                assert credentials is None
        assert sorted(winners) == sorted(codes)
        # The browser that won may come back (a reload), at either process; nobody else may.
        for n, code in enumerate(codes):
            for secret in secrets_:
                state, _ = await worlds[n % 2].services.sessions.redeem(code, secret)
                assert (state is JoinState.OK) == (secret == winners[code])


async def test_budget_alerts_fire_once_per_threshold_while_processes_settle_at_once(
    production_sandbox: Sandbox, database_target: str | Path
) -> None:
    async with cluster(production_sandbox, database_target, max_live_per_guild=10) as worlds:
        quotas = worlds[0].services.quotas
        await quotas.set_limit(GUILD, ADMIN, QuotaName.GUILD_DAY, 1_000)
        await quotas.set_alert_channel(GUILD, ADMIN, 42)
        repos = [SessionRepository(world.database) for world in worlds]
        alerts: list[tuple[str, int]] = []
        # Each step three processes settle a call each at once, then all check twice at once.
        for step, used in enumerate((100, 100, 70, 40, 60, 10)):
            calls = [
                await repos[0].reserve(
                    new_session(guild_id=GUILD, member_id=10 * step + n), LiveLimits()
                )
                for n in range(PROCESSES)
            ]
            await asyncio.gather(
                *(
                    repo.settle(
                        call.id, used_seconds=used, end_reason=EndReason.COMPLETED, ended_at=1
                    )
                    for repo, call in zip(repos, calls, strict=True)
                )
            )
            found = await asyncio.gather(
                *(world.services.alerts.check(GUILD) for world in worlds * 2)
            )
            alerts += [(alert.budget.value, alert.percent) for batch in found for alert in batch]
    # 300, 600, 810, 930, 1110, 1140 seconds of 1,000: 50 % at the second step, 80 % at the
    # third, 100 % at the fifth, each announced by exactly one of six concurrent checks.
    assert alerts == [("day", 50), ("day", 80), ("day", 100)]
