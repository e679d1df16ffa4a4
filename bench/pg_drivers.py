"""Which PostgreSQL driver, on our workload: asyncpg against psycopg 3, three ways.

Three units of work, each as the bot runs it, against a throwaway PostgreSQL 15 (loopback,
fsync and synchronous commit on) holding 20,000 sessions of history:

- reserve: a start's transaction: the server's quota records, the admission facts (live calls,
  the day's and month's charges, the member's last end) and the INSERT of the reservation;
- redeem: using up a join code (one UPDATE ... RETURNING *);
- report: a month's report of the busy server (five rollup queries in one snapshot).

Contenders, each with a pool of 5 connections and 32 concurrent tasks:

- asyncpg: a pool; each unit acquires a connection and awaits its statements in a transaction;
- psycopg async: psycopg's AsyncConnectionPool, likewise;
- psycopg sync, threads: each unit is a synchronous function run on a thread of a pool of 5,
  on a connection of psycopg's ConnectionPool (no group commit);
- ours: the bot's engine (bot.storage.postgres): psycopg sync on database threads, writes
  group-committed (one transaction, a savepoint per unit), reads in one snapshot.

Every contender gets a fresh copy of the same database each round; rounds alternate the order.
Prints units per second per round, the median and the spread (min-max).

    python -m bench.pg_drivers [--units 3000] [--tasks 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from bench.common import machine
from bot.storage import Database
from bot.storage.charges import _FACTS
from bot.storage.quotas import _READ
from bot.storage.sessions import _INSERT, _USE_CODE
from bot.storage.sql import Engine, to_pyformat
from bot.storage.transaction import ReadTx, WriteTx
from bot.storage.usage import (
    _GUILD_AVATARS,
    _GUILD_DAYS,
    _GUILD_END_REASONS,
    _GUILD_LIVE,
    _GUILD_TOTALS,
)
from tests.support.history import History, Shape, build, copy_to_postgres, periods
from tests.support.postgres import PostgresServer

POOL = 5
REPORT = (_GUILD_TOTALS, _GUILD_LIVE, _GUILD_DAYS, _GUILD_AVATARS, _GUILD_END_REASONS)
QUOTAS = _READ.text(Engine.POSTGRES)

Unit = Callable[[int], Awaitable[None]]


class Workload:
    """The parameters of every unit: which server, member and join code it touches."""

    def __init__(self, history: History, codes: list[bytes]) -> None:
        self.history = history
        self.codes = codes
        self.known = periods(history)

    def reserve_params(self, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
        guild = 10_000 + n % self.history.shape.guilds
        member = 9_000_000 + n
        facts = self.known | {
            "guild": guild, "member": member,
            "first_start": self.known["day_start"], "first_end": self.known["day_end"],
            "second_start": self.known["month_start"], "second_end": self.known["month_end"],
            "low": self.known["month_start"], "high": self.known["month_end"],
            "last_end": True,
        }  # fmt: skip
        row = {
            "guild": guild, "member": member, "avatar": None, "preset": "cooking-teacher",
            "label": "Cooking Teacher", "dialect": "production", "max_seconds": 300,
            "now": self.known["now"], "owner": None,
        }  # fmt: skip
        return facts, row

    def redeem_params(self, n: int) -> dict[str, Any]:
        code = self.codes[n % len(self.codes)]
        return {"now": self.known["now"], "code_hash": code, "secret_hash": None}

    def report_params(self) -> dict[str, Any]:
        return self.known | {"guild": self.history.busy_guild, "limit": 10}


_NAMED = re.compile(r"%\((\w+)\)s")


def numbered(sql: str) -> tuple[str, list[str]]:
    """asyncpg's $n form of one of our statements, and the parameter names in order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    return _NAMED.sub(number, to_pyformat(sql)).replace("%%", "%"), order


async def with_asyncpg(url: str, work: Workload, kind: str) -> Unit:
    pool = await asyncpg.create_pool(url, min_size=POOL, max_size=POOL)
    quotas, q_names = numbered(QUOTAS)
    facts, f_names = numbered(_FACTS)
    insert, i_names = numbered(_INSERT)
    redeem, r_names = numbered(_USE_CODE)
    report = [numbered(sql) for sql in REPORT]

    async def unit(n: int) -> None:
        async with pool.acquire() as conn:
            if kind == "reserve":
                f, row = work.reserve_params(n)
                async with conn.transaction():
                    await conn.fetchrow(quotas, *(f[k] for k in q_names))
                    await conn.fetchrow(facts, *(f[k] for k in f_names))
                    await conn.fetchrow(insert, *(row[k] for k in i_names))
            elif kind == "redeem":
                p = work.redeem_params(n)
                await conn.fetchrow(redeem, *(p[k] for k in r_names))
            else:
                p = work.report_params()
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    for sql, names in report:
                        await conn.fetch(sql, *(p[k] for k in names))

    unit.close = pool.close  # type: ignore[attr-defined]
    return unit


async def with_psycopg_async(url: str, work: Workload, kind: str) -> Unit:
    pool = AsyncConnectionPool(url, min_size=POOL, max_size=POOL, open=False)
    await pool.open(wait=True)

    async def unit(n: int) -> None:
        async with pool.connection() as conn:
            if kind == "reserve":
                f, row = work.reserve_params(n)
                async with conn.transaction():
                    await conn.execute(to_pyformat(QUOTAS), f)
                    await conn.execute(to_pyformat(_FACTS), f)
                    await conn.execute(to_pyformat(_INSERT), row)
            elif kind == "redeem":
                await conn.execute(to_pyformat(_USE_CODE), work.redeem_params(n))
            else:
                p = work.report_params()
                await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
                async with conn.transaction():
                    for sql in REPORT:
                        await (await conn.execute(to_pyformat(sql), p)).fetchall()
                await conn.set_isolation_level(None)

    unit.close = pool.close  # type: ignore[attr-defined]
    return unit


async def with_psycopg_threads(url: str, work: Workload, kind: str) -> Unit:
    pool = ConnectionPool(url, min_size=POOL, max_size=POOL, open=False)
    await asyncio.to_thread(pool.open, wait=True)
    threads = ThreadPoolExecutor(POOL)
    loop = asyncio.get_running_loop()

    def run(n: int) -> None:
        with pool.connection() as conn:
            if kind == "reserve":
                f, row = work.reserve_params(n)
                with conn.transaction():
                    conn.execute(to_pyformat(QUOTAS), f)
                    conn.execute(to_pyformat(_FACTS), f)
                    conn.execute(to_pyformat(_INSERT), row)
            elif kind == "redeem":
                conn.execute(to_pyformat(_USE_CODE), work.redeem_params(n))
                conn.commit()
            else:
                p = work.report_params()
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                with conn.transaction():
                    for sql in REPORT:
                        conn.execute(to_pyformat(sql), p).fetchall()
                conn.isolation_level = None

    async def unit(n: int) -> None:
        await loop.run_in_executor(threads, run, n)

    def close() -> Awaitable[None]:
        threads.shutdown()
        return asyncio.to_thread(pool.close)

    unit.close = close  # type: ignore[attr-defined]
    return unit


async def with_ours(url: str, work: Workload, kind: str) -> Unit:
    opened = Database.open(url, pool_size=POOL)
    db = await opened.__aenter__()

    async def unit(n: int) -> None:
        if kind == "reserve":
            f, row = work.reserve_params(n)

            def reserve(tx: WriteTx) -> None:
                tx.fetch_one(_READ, f)
                tx.fetch_one(_FACTS, f)
                tx.fetch_one(_INSERT, row)

            await db.write(reserve)
        elif kind == "redeem":
            p = work.redeem_params(n)
            await db.write(lambda tx: tx.fetch_one(_USE_CODE, p))
        else:
            p = work.report_params()

            def report(tx: ReadTx) -> None:
                for sql in REPORT:
                    tx.fetch_all(sql, p)

            await db.read(report)

    async def close() -> None:
        await opened.__aexit__(None, None, None)

    unit.close = close  # type: ignore[attr-defined]
    return unit


CONTENDERS = {
    "asyncpg": with_asyncpg,
    "psycopg async": with_psycopg_async,
    "psycopg sync, threads": with_psycopg_threads,
    "ours (sync, group commit)": with_ours,
}


async def drive(unit: Unit, units: int, tasks: int) -> float:
    counter = itertools.count()

    async def worker() -> None:
        while (n := next(counter)) < units:
            await unit(n)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return units / (time.perf_counter() - began)


def live_codes(url: str, work: History, count: int) -> list[bytes]:
    """Open sessions with join codes, for the redeem runs."""
    codes = [n.to_bytes(32, "big") for n in range(1, count + 1)]
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO sessions (guild_id, member_id, avatar_label, runway_id, dialect, state,"
            " max_seconds, join_code_hash, code_expires_at, created_at)"
            " VALUES (%s, %s, 'Ada', %s, 'production', 'OPEN', 300, %s, %s, %s)",
            [
                (work.busy_guild, 8_000_000 + n, f"bench-{n}", code,
                 work.shape.now + 3_600, work.shape.now - 60)
                for n, code in enumerate(codes)
            ],
        )  # fmt: skip
    return codes


async def main(units: int, tasks: int, rounds: int) -> None:
    print(
        f"pg_drivers: {units} units per contender, kind and round; {tasks} concurrent tasks; "
        f"pools of {POOL}; PostgreSQL with fsync on, 20,000 sessions of history"
    )
    print(f"machine: {machine()}")
    server = PostgresServer.start(durable=True)
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-drivers-") as scratch:
            history = await build(Path(scratch) / "history.db", Shape(sessions=20_000))
            template = server.fresh_database()
            copy_to_postgres(Path(scratch) / "history.db", template)
            codes = live_codes(template, history, units)
        template_name = template.rsplit("/", 1)[1]
        work = Workload(history, codes)
        names = list(CONTENDERS)
        for round_ in range(rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for kind in ("reserve", "redeem", "report"):
                for name in order:
                    copy = server.url(f"run_{round_}_{kind}_{names.index(name)}")
                    server.admin(
                        f'CREATE DATABASE "{copy.rsplit("/", 1)[1]}" TEMPLATE "{template_name}"'
                    )
                    unit = await CONTENDERS[name](copy, work, kind)
                    rate = await drive(unit, units, tasks)
                    await unit.close()  # type: ignore[attr-defined]
                    server.drop(copy)
                    figures.setdefault((kind, name), []).append(rate)
    finally:
        server.stop()
    for kind in ("reserve", "redeem", "report"):
        print(f"\n  {kind}")
        best = max(statistics.median(figures[kind, name]) for name in CONTENDERS)
        for name in CONTENDERS:
            values = figures[kind, name]
            median = statistics.median(values)
            shown = "  ".join(f"{value:7.0f}/s" for value in values)
            print(
                f"    {name:27} {shown}   median {median:7.0f}/s "
                f"(spread {min(values):.0f}-{max(values):.0f}, {median / best:.2f}x the best)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=3_000)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.units, options.tasks, options.rounds))
