"""Reservations per second: the quota-checked start path against bare INSERT transactions.

"Ours" is what every session start does in the database: read the server's quota settings,
read what the member and the server have used (the allowance the start is fitted to), then
reserve: one `BEGIN IMMEDIATE` transaction that reads the live counts, today's and this
month's charges and the member's last end, lets the quota policy decide, and inserts. Every
limit is set (budgets large enough that starts keep being admitted, so the inserts happen).
"Bare" is the least a reservation could cost: `BEGIN IMMEDIATE; INSERT; COMMIT` for one row
of the same table, through aiosqlite, one transaction at a time on one connection (an
asyncio lock keeps the 32 tasks' transactions apart, as a single connection requires).

Both run 32 concurrent tasks over 50 servers on a fresh database file each (WAL,
synchronous=NORMAL, the bot's schema and indexes), taking turns, three rounds each, in one
run. Prints every round's reservations per second, the medians, and the ratio of the medians
ours/bare (goal >= 0.5x). The bare figure swings by up to 2x from one round to the next on a
2-CPU machine (it is three thread round trips per row, at the scheduler's mercy), hence the
medians.

    python -m bench.reservations [--rows 20000] [--tasks 32] [--servers 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from bench.common import machine
from bot.services.actors import Actor
from bot.services.quotas import QuotaService, default_limits
from bot.settings import Dialect
from bot.storage import Database, GuildSettingsRepository, NewSession, SessionRepository
from bot.storage.quotas import QuotaName, QuotaRepository

MEMBERS_PER_SERVER = 40
ADMIN = Actor(user_id=1, manages_guild=True)
TIMEZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Sydney")
# Every limit set; big enough that starts keep being admitted, so every one inserts a row.
LIMITS: dict[QuotaName, int] = {
    QuotaName.MAX_AVATARS: 10,
    QuotaName.GUILD_DAY: 31 * 86_400,
    QuotaName.GUILD_MONTH: 31 * 86_400,
    QuotaName.MEMBER_DAY: 31 * 86_400,
    QuotaName.GUILD_LIVE: 1_000,
    QuotaName.MEMBER_LIVE: 1_000,
    QuotaName.COOLDOWN: 60,
    QuotaName.SESSION: 300,
}

Op = Callable[[int, int], Awaitable[None]]


async def drive(op: Op, rows: int, tasks: int, servers: int) -> float:
    """Run `rows` ops spread over `tasks` concurrent tasks; returns ops per second."""
    counter = itertools.count()
    rng = random.Random(1)

    async def worker() -> None:
        while next(counter) < rows:
            guild = rng.randrange(servers) + 1
            await op(guild, guild * 1000 + rng.randrange(MEMBERS_PER_SERVER))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return rows / (time.perf_counter() - began)


async def ours(path: Path, rows: int, tasks: int, servers: int) -> float:
    async with Database.open(path) as db:
        quotas = QuotaService(
            quotas=QuotaRepository(db),
            guilds=GuildSettingsRepository(db),
            defaults=default_limits(max_live_per_guild=3, session_max_seconds=300),
        )
        for guild in range(1, servers + 1):
            for name, value in LIMITS.items():
                await quotas.set_limit(guild, ADMIN, name, value)
            await quotas.set_limit(guild, ADMIN, QuotaName.MEMBER_DAY, None, role_id=7)
            await quotas.set_timezone(guild, ADMIN, TIMEZONES[guild % len(TIMEZONES)])
        sessions = SessionRepository(db)

        async def reserve(guild: int, member: int) -> None:
            plan = await quotas.plan_start(guild, Actor(user_id=member), 300)
            await sessions.reserve(_session(guild, member, plan.max_seconds), plan.policy)

        return await drive(reserve, rows, tasks, servers)


async def bare(path: Path, rows: int, tasks: int, servers: int) -> float:
    async with Database.open(path):  # the same schema, indexes and journal mode
        pass
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA busy_timeout = 5000")
        lock = asyncio.Lock()

        async def insert(guild: int, member: int) -> None:
            async with lock:
                await conn.execute("BEGIN IMMEDIATE")
                await conn.execute(
                    "INSERT INTO sessions (guild_id, member_id, avatar_label, preset_id, dialect,"
                    " max_seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (guild, member, "Cooking Teacher", "cooking-teacher", "production", 300,
                     int(time.time())),
                )  # fmt: skip
                await conn.execute("COMMIT")

        return await drive(insert, rows, tasks, servers)
    finally:
        await conn.close()


def _session(guild: int, member: int, max_seconds: int) -> NewSession:
    return NewSession(
        guild_id=guild,
        member_id=member,
        avatar_label="Cooking Teacher",
        preset_id="cooking-teacher",
        dialect=Dialect.PRODUCTION,
        max_seconds=max_seconds,
    )


async def main(rows: int, tasks: int, servers: int, rounds: int) -> None:
    print(
        f"reservations: {rows} per contender, {tasks} concurrent tasks, {servers} servers, "
        "one database file each (WAL, synchronous=NORMAL)"
    )
    print(f"machine: {machine()}")
    figures: dict[str, list[float]] = {"bare": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="bench-reservations-") as scratch:
        for round_ in range(rounds):
            for name, contender in (("bare", bare), ("ours", ours)):
                path = Path(scratch) / f"{name}-{round_}.db"
                figures[name].append(await contender(path, rows, tasks, servers))
    for name, values in figures.items():
        shown = "  ".join(f"{value:6.0f}/s" for value in values)
        print(f"  {name:5} {shown}   median {statistics.median(values):6.0f}/s")
    ratio = statistics.median(figures["ours"]) / statistics.median(figures["bare"])
    print(f"  ratio ours/bare (medians)  {ratio:.2f}x   (goal >= 0.5x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.rows, options.tasks, options.servers, options.rounds))
