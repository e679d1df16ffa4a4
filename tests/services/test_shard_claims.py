"""Processes on one database: who is live, and which shards each runs (both engines).

On PostgreSQL several live processes share the database; on SQLite one process runs at a
time, so a newcomer finds every earlier process dead.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.services.processes import STALE_SECONDS, ProcessIdentity
from bot.services.shard_claims import LATE_SECONDS, ShardClaimRefused, ShardClaims
from bot.settings import ProcessRole
from bot.storage import Database
from bot.storage.intents import ProcessRepository
from bot.storage.shards import ShardClaimRepository
from bot.storage.sql import Engine

T0 = 1_700_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """What a claim waiting for a silent holder sleeps through: time passes at once."""
        self.slept.append(seconds)
        self.now += int(seconds)


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with Database.open(database_target) as database:
        yield database


class Process:
    """One bot process's identity and claims, as `build_services` wires them."""

    def __init__(self, db: Database, clock: Clock, role: ProcessRole = ProcessRole.ALL) -> None:
        repository = ProcessRepository(db, clock)
        self.identity = ProcessIdentity(
            repository, exclusive=db.engine is Engine.SQLITE, role=role, clock=clock
        )
        self.shards = ShardClaims(
            ShardClaimRepository(db, clock), self.identity, check_seconds=0.01, sleep=clock.sleep
        )
        self.repository = repository

    @classmethod
    async def start(cls, db: Database, clock: Clock) -> Process:
        process = cls(db, clock)
        await process.identity.register()
        return process


def cluster_only(db: Database) -> None:
    if db.engine is Engine.SQLITE:
        pytest.skip("several live processes need PostgreSQL; SQLite runs one at a time")


async def test_processes_split_the_shards_and_an_overlap_is_refused_by_name(
    db: Database,
) -> None:
    cluster_only(db)
    clock = Clock()
    low, high, third = [await Process.start(db, clock) for _ in range(3)]
    first = await low.shards.claim((0, 1), 4)
    assert first.missing == (2, 3)
    second = await high.shards.claim((2, 3), 4)
    assert second.missing == ()
    assert second.processes == 2

    with pytest.raises(ShardClaimRefused) as refused:
        await third.shards.claim((1, 2), 4)
    host = socket.gethostname()
    message = str(refused.value)
    assert f"shard 1 of 4 already run in process {low.identity.id} on {host} (pid " in message
    assert f"shard 2 of 4 already run in process {high.identity.id} on {host}" in message
    assert f"(pid {os.getpid()})" in message
    assert "Give each process its own SHARD_IDS" in message
    # Refused means nothing of it was recorded.
    coverage = await low.shards.coverage()
    assert coverage.claimed == {0, 1, 2, 3}
    assert coverage.processes == 2


async def test_a_different_shard_count_is_refused(db: Database) -> None:
    cluster_only(db)
    clock = Clock()
    one, other = [await Process.start(db, clock) for _ in range(2)]
    await one.shards.claim((0,), 2)
    with pytest.raises(ShardClaimRefused, match=r"SHARD_COUNT=2, this one 4; every process"):
        await other.shards.claim((2, 3), 4)


async def test_claims_die_with_the_heartbeat_or_the_stop(db: Database) -> None:
    cluster_only(db)
    clock = Clock()
    old, stopped, newcomer = [await Process.start(db, clock) for _ in range(3)]
    await old.shards.claim((0,), 3)
    await stopped.shards.claim((1,), 3)
    await stopped.identity.stop()
    assert (await newcomer.shards.coverage()).claimed == {0}
    with pytest.raises(ShardClaimRefused):
        await newcomer.shards.claim((0,), 3)

    clock.now += STALE_SECONDS + 1
    coverage = await newcomer.shards.claim((0, 1), 3)
    assert clock.slept == []  # old was dead already
    assert coverage.claimed == {0, 1}
    assert coverage.missing == (2,)


async def test_a_start_waits_out_a_holder_that_missed_its_heartbeats_but_not_a_live_one(
    db: Database,
) -> None:
    cluster_only(db)
    clock = Clock()
    beating, silent, newcomer = [await Process.start(db, clock) for _ in range(3)]
    await beating.shards.claim((0,), 2)
    await silent.shards.claim((1,), 2)
    clock.now += LATE_SECONDS  # both missed a beat; one of them beats again
    await beating.repository.heartbeat(beating.identity.id)
    with pytest.raises(ShardClaimRefused):
        await newcomer.shards.claim((0,), 2)
    assert clock.slept == []
    # The silent one is most likely a crashed process elsewhere: waited out, not refused.
    coverage = await newcomer.shards.claim((1,), 2)
    assert clock.slept == [STALE_SECONDS + 1 - LATE_SECONDS]
    assert coverage.claimed == {0, 1}


async def test_a_release_frees_the_shards_at_once(db: Database) -> None:
    cluster_only(db)
    clock = Clock()
    first, second = [await Process.start(db, clock) for _ in range(2)]
    await first.shards.claim((0, 1), 2)
    await first.shards.release()
    assert (await second.shards.claim((0, 1), 2)).missing == ()


async def test_on_sqlite_a_newcomer_takes_over_from_every_earlier_process(
    db: Database,
) -> None:
    if db.engine is not Engine.SQLITE:
        pytest.skip("the single-process rule is SQLite's")
    clock = Clock()
    earlier = await Process.start(db, clock)
    await earlier.shards.claim((0, 1), 2)
    later = await Process.start(db, clock)
    assert await later.identity.dead_owners() == [earlier.identity.id]
    assert (await later.shards.claim((0, 1), 2)).claimed == {0, 1}


async def test_in_a_cluster_only_silent_stopped_or_exited_processes_are_dead(
    db: Database,
) -> None:
    cluster_only(db)
    clock = Clock()
    me, live, silent, stopped, exited = [await Process.start(db, clock) for _ in range(5)]
    await stopped.identity.stop()
    # `exited` ran on this machine, and its pid has gone since.
    finished = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await finished.wait()
    await db.write(
        lambda tx: tx.execute(
            "UPDATE processes SET pid = ? WHERE id = ?", (finished.pid, exited.identity.id)
        )
    )
    assert sorted(await me.identity.dead_owners()) == sorted(
        [stopped.identity.id, exited.identity.id]
    )
    clock.now += STALE_SECONDS + 1
    for beating in (me, live):
        await beating.repository.heartbeat(beating.identity.id)
    assert silent.identity.id in await me.identity.dead_owners()
    assert live.identity.id not in await me.identity.dead_owners()
    # The exit is recorded, so every process agrees without looking at pids.
    rows = await db.fetch_all(
        "SELECT role, stopped_at FROM processes WHERE id = ?", (exited.identity.id,)
    )
    assert rows[0][0] == "all"
    assert rows[0][1] is not None


async def test_a_web_process_is_registered_as_such(db: Database) -> None:
    web = Process(db, Clock(), role=ProcessRole.WEB)
    await web.identity.register()
    row = await db.fetch_one("SELECT role, place FROM processes WHERE id = ?", (web.identity.id,))
    assert row is not None
    assert row[0] == "web"
    assert row[1] is None or re.fullmatch(r"[0-9a-f-]{36}/pid:\[\d+\]", str(row[1]))


async def test_a_process_counted_dead_finds_its_shards_taken_and_is_told_once(
    db: Database,
) -> None:
    clock = Clock()
    cut_off = await Process.start(db, clock)
    await cut_off.shards.claim((0, 1), 2)
    told: list[str] = []
    cut_off.shards.watch(told.append)
    await asyncio.sleep(0.05)
    assert told == []
    assert await cut_off.shards.lost() == ()

    clock.now += STALE_SECONDS + 1  # its heartbeat stopped (on SQLite no wait is needed)
    successor = await Process.start(db, clock)
    await successor.shards.claim((0, 1), 2)
    assert await cut_off.shards.lost() == (0, 1)
    for _ in range(100):
        if told:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert len(told) == 1
    assert told[0].startswith("another process has taken shards 0-1, having counted this one")
    await cut_off.shards.release()
    assert (await successor.shards.coverage()).claimed == {0, 1}


async def test_the_shards_of_a_crashed_process_of_this_machine_are_free_at_once(
    db: Database,
) -> None:
    cluster_only(db)
    clock = Clock()
    crashed, successor = [await Process.start(db, clock) for _ in range(2)]
    await crashed.shards.claim((0,), 1)
    finished = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await finished.wait()
    await db.write(
        lambda tx: tx.execute(
            "UPDATE processes SET pid = ? WHERE id = ?", (finished.pid, crashed.identity.id)
        )
    )
    # Its heartbeat is fresh, but its pid is gone: no 30 s wait.
    assert (await successor.shards.claim((0,), 1)).claimed == {0}
