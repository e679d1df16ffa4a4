"""Wake-ups across processes on PostgreSQL: NOTIFY at commit, LISTEN on a connection of its
own that comes back after it dies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.storage import Database
from bot.storage.sql import Engine
from bot.storage.transaction import WriteTx
from bot.storage.wakeups import Channel, Wakeups


def notify(channel: Channel, *, fail: bool = False) -> Callable[[WriteTx], None]:
    def body(tx: WriteTx) -> None:
        tx.notify(channel)
        if fail:
            raise RuntimeError("rolled back")

    return body


async def test_a_committed_notify_wakes_another_process_and_a_rolled_back_one_does_not(
    database_target: str | Path,
) -> None:
    async with Database.open(database_target) as sender, Database.open(database_target) as db:
        if db.engine is not Engine.POSTGRES:
            pytest.skip("one process runs on an SQLite file: nothing to wake across")
        woken: list[str] = []
        wakeups = Wakeups(db)
        wakeups.subscribe(Channel.TRACKER, lambda: woken.append("tracker"))
        wakeups.subscribe(Channel.LEASES, lambda: woken.append("leases"))
        listening = asyncio.create_task(wakeups.listen())
        try:
            await asyncio.wait_for(wakeups.connected.wait(), 10)
            await asyncio.sleep(0.1)
            woken.clear()  # the wake-up every (re)connection gives
            with pytest.raises(RuntimeError):
                await sender.write(notify(Channel.TRACKER, fail=True))
            await sender.write(notify(Channel.LEASES))
            for _ in range(100):
                if woken:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            assert woken == ["leases"]

            # The listening connection dies: it is replaced, and wake-ups arrive again.
            await sender.write(
                lambda tx: tx.fetch_all(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND (query LIKE 'LISTEN %' OR query = 'SELECT 1')"
                )
            )
            for _ in range(200):
                if not wakeups.connected.is_set():
                    break
                await asyncio.sleep(0.05)
            await asyncio.wait_for(wakeups.connected.wait(), 15)
            await asyncio.sleep(0.1)
            woken.clear()
            await sender.write(notify(Channel.TRACKER))
            for _ in range(100):
                if woken:
                    break
                await asyncio.sleep(0.05)
            assert woken == ["tracker"]
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
