"""Reservations per second: the quota-checked start path against a like-for-like baseline.

"Ours" is what every session start does in the database: one write transaction under the
admission lock (`SessionRepository.admit`) that reads the server's quota records, the live
counts, today's and this month's charges and the member's last end, fits the call to what is
left, lets the quota policy decide, and inserts. Every
limit is set, generously, so starts keep being admitted and every one inserts a row.

The baseline is the same storage doing the least a reservation could: the same `Database`,
the same group commit (`Database.write`), one unit per row holding a bare INSERT of the same
row. Both run 32 concurrent tasks over 1,000 servers on a copy of the same database, which
already holds 100,000 settled sessions of history (tests/support/history.py: a year, 20,000
members, one busy server with 13 %); so any cost that grows with history shows. They take
turns, three rounds each; "ours" also runs on an empty database in every round, to show what
the history costs it. Prints every round, the medians with their spread, and the ratio of the
medians ours/baseline (goal >= 0.5x).

`--engine postgres` runs the same on a throwaway PostgreSQL server (bench/engines.py): the
same history, the same engine code path for both contenders (group commit, pool, thread).

    python -m bench.reservations [--rows 20000] [--tasks 32] [--history 100000] [--rounds 3]
                                 [--engine sqlite|postgres]
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

from bench.common import machine
from bench.engines import ENGINES, Bench, execute_many
from bot.services.actors import Actor
from bot.services.quotas import QuotaService, default_limits
from bot.settings import Dialect
from bot.storage import Database, GuildSettingsRepository, NewSession, SessionRepository
from bot.storage.quotas import QuotaName, QuotaRepository
from bot.storage.transaction import WriteTx
from tests.support.history import FIRST_GUILD, TIMEZONES, Shape

SERVERS = 1_000
MEMBERS_PER_SERVER = 20
TIER_ROLE = 7
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


def set_limits(target: str | Path) -> None:
    """Every server gets every limit, a role tier and a timezone (as `/quota set` leaves them)."""
    now = int(time.time())
    guilds = range(FIRST_GUILD, FIRST_GUILD + SERVERS)
    execute_many(
        target,
        "INSERT INTO guild_quotas (guild_id, name, value, updated_by, updated_at)"
        " VALUES (?, ?, ?, 1, ?) ON CONFLICT (guild_id, name) DO UPDATE SET value = excluded.value",
        [(guild, name.value, value, now) for guild in guilds for name, value in LIMITS.items()],
    )
    execute_many(
        target,
        "INSERT INTO quota_role_tiers (guild_id, role_id, member_day_seconds, updated_by,"
        " updated_at) VALUES (?, ?, NULL, 1, ?) ON CONFLICT DO NOTHING",
        [(guild, TIER_ROLE, now) for guild in guilds],
    )
    execute_many(
        target,
        "INSERT INTO guild_settings (guild_id, timezone, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [(guild, TIMEZONES[guild % len(TIMEZONES)], now) for guild in guilds],
    )


async def drive(op: Op, rows: int, tasks: int) -> float:
    """Run `rows` ops spread over `tasks` concurrent tasks; returns ops per second."""
    counter = itertools.count()
    rng = random.Random(1)

    async def worker() -> None:
        while next(counter) < rows:
            guild = FIRST_GUILD + rng.randrange(SERVERS)
            await op(guild, 5_000_000 + guild * 100 + rng.randrange(MEMBERS_PER_SERVER))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return rows / (time.perf_counter() - began)


def _session(guild: int, member: int, max_seconds: int) -> NewSession:
    return NewSession(
        guild_id=guild,
        member_id=member,
        avatar_label="Cooking Teacher",
        preset_id="cooking-teacher",
        dialect=Dialect.PRODUCTION,
        max_seconds=max_seconds,
    )


async def ours(target: str | Path, rows: int, tasks: int) -> float:
    async with Database.open(target) as db:
        quotas = QuotaService(
            quotas=QuotaRepository(db),
            guilds=GuildSettingsRepository(db),
            defaults=default_limits(max_live_per_guild=3, session_max_seconds=300),
        )
        sessions = SessionRepository(db)

        async def reserve(guild: int, member: int) -> None:
            policy = quotas.start_policy(Actor(user_id=member), lambda seconds: seconds)
            admission = await sessions.admit(_session(guild, member, 300), policy)
            assert admission.session is not None, f"starts are admitted: {admission.refusal}"

        return await drive(reserve, rows, tasks)


_BARE_INSERT = """
INSERT INTO sessions (guild_id, member_id, avatar_label, preset_id, dialect, max_seconds,
                      created_at)
VALUES (:guild, :member, 'Cooking Teacher', 'cooking-teacher', 'production', 300, :now)
"""


async def baseline(target: str | Path, rows: int, tasks: int) -> float:
    async with Database.open(target) as db:

        async def insert(guild: int, member: int) -> None:
            params = {"guild": guild, "member": member, "now": int(time.time())}

            def body(tx: WriteTx) -> None:
                tx.execute(_BARE_INSERT, params)

            await db.write(body)

        return await drive(insert, rows, tasks)


async def main(rows: int, tasks: int, history: int, rounds: int, engine: str) -> None:
    print(
        f"reservations on {engine}: {rows} per contender and round, {tasks} concurrent tasks, "
        f"{SERVERS} servers, on copies of one database holding {history:,} sessions of history"
    )
    print(f"machine: {machine()}")
    figures: dict[str, list[float]] = {"baseline": [], "ours": [], "ours, empty db": []}
    with tempfile.TemporaryDirectory(prefix="bench-reservations-") as scratch:
        bench = Bench.start(engine, Path(scratch))
        try:
            template, _ = await bench.history(
                "history", Shape(sessions=history, now=int(time.time()))
            )
            set_limits(template)
            empty = await bench.empty("empty")
            set_limits(empty)
            contenders = (
                ("baseline", baseline, template),
                ("ours", ours, template),
                ("ours, empty db", ours, empty),
            )
            for round_ in range(rounds):
                for name, contender, source in contenders:
                    target = bench.copy(source, f"run_{round_}_{name.replace(' ', '_')[:12]}")
                    figures[name].append(await contender(target, rows, tasks))
                    bench.drop(target)
        finally:
            bench.stop()
    for name, values in figures.items():
        shown = "  ".join(f"{value:6.0f}/s" for value in values)
        print(
            f"  {name:15} {shown}   median {statistics.median(values):6.0f}/s "
            f"(spread {min(values):.0f}-{max(values):.0f})"
        )
    ratio = statistics.median(figures["ours"]) / statistics.median(figures["baseline"])
    history_cost = statistics.median(figures["ours"]) / statistics.median(figures["ours, empty db"])
    print(f"  ratio ours/baseline (medians)  {ratio:.2f}x   (goal >= 0.5x)")
    print(f"  ours with {history:,} sessions of history / ours, empty  {history_cost:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=ENGINES, default="sqlite")
    options = parser.parse_args()
    asyncio.run(main(options.rows, options.tasks, options.history, options.rounds, options.engine))
