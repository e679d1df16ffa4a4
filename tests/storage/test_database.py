"""The connection: transactions commit or roll back whole and never interleave, on both
engines (tests taking `db_path` are about SQLite's file itself)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from bot.storage import Database
from bot.storage.errors import ConstraintError
from bot.storage.transaction import ReadTx, WriteTx


async def counter(db: Database) -> int:
    row = await db.fetch_one("SELECT value FROM app_state WHERE key = 'n'")
    return 0 if row is None else int(row[0])


def increment(tx: WriteTx) -> int:
    """A read-modify-write that loses updates if two of them ever interleave."""
    row = tx.fetch_one("SELECT value FROM app_state WHERE key = 'n'")
    value = (0 if row is None else int(row[0])) + 1
    tx.execute(
        "INSERT INTO app_state VALUES ('n', ?) ON CONFLICT (key) DO UPDATE SET value = ?",
        (str(value), str(value)),
    )
    return value


async def test_write_commits_and_returns_the_body_result(db: Database) -> None:
    assert await db.write(increment) == 1
    assert await counter(db) == 1


async def test_write_rolls_back_everything_when_the_body_raises(db: Database) -> None:
    def body(tx: WriteTx) -> None:
        increment(tx)
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await db.write(body)
    assert await counter(db) == 0
    assert await db.write(increment) == 1  # the connection is usable again


async def test_a_failing_statement_rolls_back_the_earlier_ones(db: Database) -> None:
    def body(tx: WriteTx) -> None:
        increment(tx)
        tx.execute("INSERT INTO guild_settings (guild_id, timezone, updated_at) VALUES (1, '', 0)")

    with pytest.raises(ConstraintError, match=r"(?i)check constraint"):
        await db.write(body)
    assert await counter(db) == 0


async def test_concurrent_transactions_never_interleave(db: Database) -> None:
    results = await asyncio.gather(*(db.write(increment) for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await counter(db) == 200


async def test_a_cancelled_caller_leaves_no_half_transaction(db: Database) -> None:
    tasks = [asyncio.create_task(db.write(increment)) for _ in range(50)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Each transaction ran whole or not at all, so the counter equals the number that ran.
    final = await counter(db)
    assert 25 <= final <= 50
    assert await db.write(increment) == final + 1


async def test_a_write_cancelled_before_it_was_taken_never_runs(db: Database) -> None:
    def slow(tx: WriteTx) -> int:
        time.sleep(0.2)  # keeps the thread busy, so the next write has to queue
        return increment(tx)

    first = asyncio.ensure_future(db.write(slow))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(db.write(increment))
    await asyncio.sleep(0)
    second.cancel()
    assert await first == 1
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await counter(db) == 1


async def test_writing_after_close_fails_cleanly(db_path: Path) -> None:
    async with Database.open(db_path) as db:
        pass
    with pytest.raises(ValueError, match="closed"):
        await db.write(increment)


async def test_units_committed_together_still_fail_alone(db: Database) -> None:
    def failing(tx: WriteTx) -> int:
        increment(tx)
        raise ValueError("this one only")

    # Submitted in one go, these share a transaction; the failing one is undone alone.
    results = await asyncio.gather(
        db.write(increment), db.write(failing), db.write(increment), return_exceptions=True
    )
    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert results[2] == 2
    assert await counter(db) == 2


async def test_a_unit_that_breaks_the_transaction_fails_its_whole_batch(db: Database) -> None:
    def rogue(tx: WriteTx) -> None:
        tx.execute("ROLLBACK")  # undoes the units before it, so none of them may report success

    results = await asyncio.gather(db.write(increment), db.write(rogue), return_exceptions=True)
    assert all(isinstance(result, Exception) for result in results)
    assert await counter(db) == 0
    assert await db.write(increment) == 1


async def test_closing_waits_for_writes_in_flight(db_path: Path) -> None:
    async with Database.open(db_path) as db:
        pending = [asyncio.ensure_future(db.write(increment)) for _ in range(10)]
        await asyncio.sleep(0)  # the writes have started; their tasks are still waiting
        assert not any(task.done() for task in pending)
    assert all(task.done() for task in pending)
    async with Database.open(db_path) as db:
        assert await counter(db) == 10


async def test_two_connections_to_one_file_wait_for_each_other(db_path: Path) -> None:
    """What two processes on one file do: BEGIN IMMEDIATE plus busy_timeout serialise them."""
    async with Database.open(db_path) as first, Database.open(db_path) as second:
        await asyncio.gather(*(db.write(increment) for _ in range(100) for db in (first, second)))
        assert await counter(first) == 200
        assert await counter(second) == 200


async def test_a_long_read_never_holds_up_writes_and_reads_one_snapshot(db: Database) -> None:
    reading = threading.Event()

    def slow_report(tx: ReadTx) -> tuple[int, int]:
        first = tx.fetch_one("SELECT count(*) FROM app_state")
        reading.set()
        time.sleep(0.5)  # a report of a busy year, on the read connection's thread
        last = tx.fetch_one("SELECT count(*) FROM app_state")
        assert first is not None
        assert last is not None
        return first[0], last[0]

    report = asyncio.ensure_future(db.read(slow_report))
    assert await asyncio.to_thread(reading.wait, 5.0)
    began = time.monotonic()
    for _ in range(20):
        await db.write(increment)
    assert time.monotonic() - began < 0.4, "writes waited for the report"
    assert not report.done()
    assert await report == (0, 0)  # one snapshot, from before the writes
    assert await db.read(lambda tx: tx.fetch_all("SELECT value FROM app_state"))


async def test_read_connections_cannot_write(db: Database) -> None:
    with pytest.raises(Exception, match=r"(?i)read-?only"):
        await db.read(lambda tx: tx.fetch_all("INSERT INTO app_state VALUES ('x', 'y')"))
    assert await counter(db) == 0


async def test_statistics_are_gathered_when_migrating_and_refreshed_on_demand(
    db_path: Path,
) -> None:
    async with Database.open(db_path) as db:
        # ANALYZE ran after the migrations: its table exists (empty tables have no rows yet).
        assert await db.fetch_one("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        for _ in range(3):
            await db.write(increment)
        await db.optimize()  # cheap when nothing needs it; never fails on a live database
        assert await counter(db) == 3
