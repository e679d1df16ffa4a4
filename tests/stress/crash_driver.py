"""The process the crash test kills: starts and settles calls against a Runway sandbox.

    python -m tests.stress.crash_driver --database F --runway URL --key K --offset S
        [--die-at STEP:N] [--recover-only] [--seed N]

It first recovers what an earlier, killed run left open, exactly as the bot does at start-up
(the tracker's sweep), then runs workers that each loop: start a call as the session service
does, join it at Runway (most of the time), let the member hang up after some seconds, and
settle it through the tracker. Its clock is real time plus `--offset` seconds; the test moves
the offset on by hours between runs, so leftovers of a killed run are old enough to resolve.

With `--die-at reserved:3` it SIGKILLs itself right after the third reservation, and likewise
at each other step of a start and a settle, so that every such point is hit for sure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.runway.client import RunwayClient
from bot.runway.errors import RunwayError
from bot.runway.retry import RetryPolicy
from bot.services.quotas import QuotaService, default_limits
from bot.services.tracker import SessionTracker
from bot.storage import Database, GuildSettingsRepository, LimitReached, SessionRepository
from bot.storage.quotas import QuotaName, QuotaRepository
from tests.stress.books import Rules, Server, configure, servers, start

STEPS = ("reserved", "created", "opened", "consumed", "hung_up", "settled")
WORKERS = 6
SERVERS = 8
MEMBERS = 6

# Generous enough that calls keep happening over the whole test, low enough to matter.
RULES = Rules(
    limits={
        QuotaName.GUILD_LIVE: 3,
        QuotaName.MEMBER_LIVE: 1,
        QuotaName.GUILD_DAY: 3600,
        QuotaName.GUILD_MONTH: 40_000,
        QuotaName.MEMBER_DAY: 900,
        QuotaName.COOLDOWN: 60,
        QuotaName.SESSION: 120,
    },
    tier_seconds=1500,
)
PLAN = servers(SERVERS, MEMBERS, first_guild=70_000)


class Killer:
    """Counts the steps passed and SIGKILLs this process at the chosen one."""

    def __init__(self, spec: str | None) -> None:
        self.seen: Counter[str] = Counter()
        step, _, count = (spec or ":").partition(":")
        self.step = step or None
        self.count = int(count) if count else 0

    def passed(self, step: str) -> None:
        self.seen[step] += 1
        print(step, flush=True)
        if step == self.step and self.seen[step] >= self.count:
            os.kill(os.getpid(), signal.SIGKILL)


class Driver:
    def __init__(
        self,
        database: Database,
        runway: RunwayClient,
        control: httpx.AsyncClient,
        offset: int,
        killer: Killer,
        seed: int,
    ) -> None:
        self.clock = lambda: int(time.time()) + offset
        self.sessions = SessionRepository(database, self.clock)
        self.quotas = QuotaService(
            quotas=QuotaRepository(database, self.clock),
            guilds=GuildSettingsRepository(database, self.clock),
            defaults=default_limits(max_live_per_guild=3, session_max_seconds=300),
            clock=self.clock,
        )
        self.tracker = SessionTracker(sessions=self.sessions, runway=runway, clock=self.clock)
        self.runway = runway
        self.control = control
        self.killer = killer
        self.rng = random.Random(seed)

    async def call(self, server: Server) -> None:
        member = self.rng.choice(server.members)
        wanted = self.rng.choice([30, 60, 120, 300])
        try:
            session = await start(
                self.quotas,
                self.sessions,
                self.runway,
                server,
                member,
                wanted,
                self.clock() + 600,
                self.killer.passed,
            )
        except (LimitReached, RunwayError):
            await asyncio.sleep(0.01)
            return
        assert session is not None
        assert session.runway_id is not None
        self.killer.passed("opened")
        if self.rng.random() < 0.15:
            return  # the member never joins: the tracker cancels it for free, later
        ready = await self.runway.wait_for_session_ready(
            session.runway_id, max_wait=10, interval=0.05
        )
        assert ready.session_key is not None
        await self.runway.consume_session(session.runway_id, SecretStr(ready.session_key))
        await self.sessions.mark_consumed(session.id, self.clock())
        self.killer.passed("consumed")
        await asyncio.sleep(self.rng.uniform(0, 0.05))
        seconds = self.rng.randint(1, session.max_seconds)
        hung_up = await self.control.post(
            f"/_sandbox/sessions/{session.runway_id}/end", json={"afterSeconds": seconds}
        )
        hung_up.raise_for_status()
        self.killer.passed("hung_up")
        current = await self.sessions.get(server.guild_id, session.id)
        assert current is not None
        await self.tracker.check(current)
        self.killer.passed("settled")

    async def work(self) -> None:
        while True:
            await self.call(self.rng.choice(PLAN))


async def main(options: argparse.Namespace) -> None:
    killer = Killer(options.die_at)
    async with (
        Database.open(options.database) as database,
        RunwayClient(
            base_url=options.runway,
            api_key=SecretStr(options.key),
            retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05),
        ) as runway,
        httpx.AsyncClient(
            base_url=options.runway, headers={"Authorization": f"Bearer {options.key}"}
        ) as control,
    ):
        driver = Driver(database, runway, control, options.offset, killer, options.seed)
        await driver.tracker.sweep()  # what a crash left open: as the bot does at start-up
        print("recovered", flush=True)
        if options.recover_only:
            return
        for server in PLAN:
            await configure(driver.quotas, server, RULES)
        print("ready", flush=True)
        await asyncio.gather(*(driver.work() for _ in range(WORKERS)))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.stress.crash_driver")
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--runway", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--die-at", default=None)
    parser.add_argument("--recover-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
