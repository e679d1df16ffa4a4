"""Group commit: concurrent write units share one transaction, each in its own savepoint.

A unit is a plain function run on the database thread. Units submitted while the thread is busy
wait in a queue; the next trip to the thread takes up to `MAX_UNITS_PER_TRANSACTION` of them into
one `BEGIN IMMEDIATE` ... `COMMIT`. Each runs in a savepoint, so it commits or rolls back alone and
sees the units before it, exactly as if they had run one after the other; no caller hears of its
unit before the transaction holding it has committed, and if that commit fails, every unit of
the batch fails. What this buys: one event loop/thread round trip and one WAL write of the pages
they share per batch instead of per unit, so many small concurrent writes run near SQLite's speed.

A task cancelled while it waits has its unit run whole if the unit was already taken, and not at
all otherwise: cancellation can never leave a transaction half done.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, TypeVar, cast

from bot.storage.transaction import WriteTx

T = TypeVar("T")
MAX_UNITS_PER_TRANSACTION = 64  # bounds how long one transaction holds the write lock

RunOnThread = Callable[[Callable[[sqlite3.Connection], None]], Awaitable[None]]


class WriteQueue:
    """Feeds write units to the database thread in batches; lives on the event loop."""

    def __init__(self, run_on_thread: RunOnThread) -> None:
        self._run_on_thread = run_on_thread
        self._queued: deque[_Unit[Any]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, body: Callable[[WriteTx], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        unit = _Unit(body, future)
        self._queued.append(unit)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="storage-writer")
        return await unit.future

    async def idle(self) -> None:
        """Wait until every submitted unit has been committed or has failed."""
        while self._drainer is not None:
            await asyncio.wait([self._drainer])  # its errors already went to the writers

    async def _drain(self) -> None:
        try:
            while self._queued:
                count = min(len(self._queued), MAX_UNITS_PER_TRANSACTION)
                # A unit whose caller gave up before it was taken is dropped, never run.
                batch = [
                    unit
                    for unit in (self._queued.popleft() for _ in range(count))
                    if not unit.future.cancelled()
                ]
                if not batch:
                    continue
                try:
                    await self._run_on_thread(partial(_commit, batch))
                except asyncio.CancelledError as error:  # stopped, e.g. by the loop shutting down
                    for unit in batch:
                        unit.fail(error)
                    raise
                except Exception as error:  # e.g. the connection is closed: the writers hear it
                    for unit in batch:
                        unit.fail(error)
                finally:
                    for unit in batch:
                        unit.resolve()
        finally:
            self._drainer = None
            for unit in self._queued:  # only left if the drainer itself was stopped
                unit.fail(asyncio.CancelledError("the database writer stopped"))
                unit.resolve()
            self._queued.clear()


def _commit(batch: list[_Unit[Any]], conn: sqlite3.Connection) -> None:
    """Run `batch` in one transaction; on the database thread."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        for unit in batch:
            unit.run(conn)
        conn.commit()
    except BaseException as error:  # nothing of the batch was committed: every unit fails
        conn.rollback()
        for unit in batch:
            unit.fail(error)


class _Unit(Generic[T]):
    """One write: its body, then its outcome, handed to the waiting task by `resolve`."""

    __slots__ = ("_body", "_error", "_result", "future")

    def __init__(self, body: Callable[[WriteTx], T], future: asyncio.Future[T]) -> None:
        self._body = body
        self.future = future
        self._result: T | None = None
        self._error: BaseException | None = None

    def run(self, conn: sqlite3.Connection) -> None:
        conn.execute("SAVEPOINT unit")
        try:
            self._result = self._body(WriteTx(conn))
        except Exception as error:
            conn.execute("ROLLBACK TO unit")
            self._error = error
        conn.execute("RELEASE unit")

    def fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error

    def resolve(self) -> None:
        """Hand the outcome over (on the event loop); a caller that gave up has no future."""
        if self.future.done():
            return
        if isinstance(self._error, asyncio.CancelledError):
            self.future.cancel()
        elif self._error is not None:
            self.future.set_exception(self._error)
        else:
            self.future.set_result(cast(T, self._result))
