"""Several bot processes on one database: each "process" is a `Database` instance of its own
(its own connections, its own group commit, its own services), all on the same file or the
same PostgreSQL database, against one Runway sandbox. What must hold across processes is
checked here on both engines."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from bot.errors import LimitReached
from bot.runway.sandbox import Sandbox
from bot.services.actors import Actor
from bot.services.sessions import PRESET_PREFIX, SlotsBusy
from bot.settings import Dialect
from bot.storage.quotas import QuotaName
from tests.services.conftest import ADMIN, World, open_world

PROCESSES = 3
PRESET = PRESET_PREFIX + "cooking-teacher"


@contextlib.asynccontextmanager
async def cluster(
    sandbox: Sandbox, target: str | Path, count: int = PROCESSES, **options: int
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
