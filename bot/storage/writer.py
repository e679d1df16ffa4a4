"""Group commit: concurrent write units share one transaction, each in its own savepoint.

A unit is a plain function run on a database thread. Units submitted while a batch is running
wait in a queue; the next trip to the thread takes up to `MAX_UNITS_PER_TRANSACTION` of them into
one write transaction. Each runs in a savepoint, so it commits or rolls back alone and sees the
units before it, exactly as if they had run one after the other; no caller hears of its unit
before the transaction holding it has committed, and if that commit fails, every unit of the
batch fails. What this buys: one event loop/thread round trip and one commit (one WAL write on
SQLite, one WAL flush on PostgreSQL) per batch instead of per unit, so many small concurrent
writes run near the engine's speed. A batch of one unit needs no savepoint: the transaction
itself is the unit's.

A unit that must exclude writers of other processes (admission) names a lock (`bot.storage.locks`)
when it is submitted. Its batch takes every such lock right after BEGIN, before any unit runs:
a transaction never waits for an advisory lock while holding a row lock another lock holder
may want, so locks and row locks can never deadlock each other. On SQLite a lock costs nothing
(`BEGIN IMMEDIATE` already lets one writer through at a time).

Several processes on PostgreSQL each batch their own units, so two batches can take the same
rows in opposite orders; PostgreSQL then aborts one statement as a deadlock (or a serialization
failure). Such a unit was rolled back (to its savepoint, or with its transaction when it ran
alone) and nothing of it was kept, so it goes back to the head of the queue and runs again in
the next batch, after a short random pause that lets the other transaction finish
(`conflict` tells these errors apart; SQLite, with one writer, has none). Its caller only
hears of it after `MAX_CONFLICT_RETRIES` tries.

A task cancelled while it waits has its unit run whole if the unit was already taken, and not at
all otherwise: cancellation can never leave a transaction half done.

The engine decides how a batch reaches a connection (`RunBatch`): SQLite runs it on its one
write connection; PostgreSQL takes a connection from its pool and, if the connection is lost,
runs the batch again on another, unless its commit may have happened (see
`bot.storage.postgres.engine`).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Generic, TypeVar, cast

from bot.storage.transaction import Link, WriteTx

T = TypeVar("T")
MAX_UNITS_PER_TRANSACTION = 64  # bounds how long one transaction holds the write lock
MAX_CONFLICT_RETRIES = 8  # tries of a unit another process's transaction kept aborting

Outcome = tuple[Any, BaseException | None]


class BatchError(Exception):
    """The transaction itself failed (e.g. its connection was lost), not one unit of it:
    it is never reported as a unit's own error."""


Batch = Callable[[Link], list[Outcome]]
RunBatch = Callable[[Batch], Awaitable[list[Outcome]]]


class WriteQueue:
    """Feeds write units to the database thread in batches; lives on the event loop."""

    def __init__(
        self, run_batch: RunBatch, conflict: Callable[[BaseException], bool] | None = None
    ) -> None:
        self._run_batch = run_batch
        self._conflict = conflict
        self._queued: deque[_Unit[Any]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, body: Callable[[WriteTx], T], lock: int | None = None) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        unit = _Unit(body, future, lock)
        self._queued.append(unit)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="storage-writer")
        return await unit.future

    async def idle(self) -> None:
        """Wait until every submitted unit has been committed or has failed."""
        while self._drainer is not None:
            await asyncio.wait([self._drainer])  # its errors already went to the writers

    def _runs_again(self, unit: _Unit[Any], failure: BaseException | None) -> bool:
        """Whether `unit` lost a conflict with another transaction and has tries left."""
        if failure is None or self._conflict is None or not self._conflict(failure):
            return False
        if unit.future.done() or unit.conflicts >= MAX_CONFLICT_RETRIES:
            return False
        unit.conflicts += 1
        return True

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
                locks = sorted({unit.lock for unit in batch if unit.lock is not None})
                bodies = [unit.body for unit in batch]
                try:
                    outcomes = await self._run_batch(partial(run_batch, bodies, locks=locks))
                except asyncio.CancelledError as error:  # stopped, e.g. by the loop shutting down
                    for unit in batch:
                        unit.resolve(None, error)
                    raise
                except Exception as error:  # nothing of the batch was committed: all fail
                    for unit in batch:
                        unit.resolve(None, error)
                else:
                    again: list[_Unit[Any]] = []
                    for unit, (result, failure) in zip(batch, outcomes, strict=True):
                        if self._runs_again(unit, failure):
                            again.append(unit)
                        else:
                            unit.resolve(result, failure)
                    if again:
                        self._queued.extendleft(reversed(again))
                        tries = max(unit.conflicts for unit in again)
                        await asyncio.sleep(random.uniform(0.005, 0.05) * tries)
        finally:
            self._drainer = None
            for unit in self._queued:  # only left if the drainer itself was stopped
                unit.resolve(None, asyncio.CancelledError("the database writer stopped"))
            self._queued.clear()


def run_batch(
    bodies: list[Callable[[WriteTx], Any]], link: Link, *, locks: Sequence[int] = ()
) -> list[Outcome]:
    """Run `bodies` in one write transaction, holding `locks` from its start, and commit it;
    on the database thread.

    Returns each body's result or error; raises (after rolling back) if the transaction
    itself failed, in which case nothing of the batch was committed.
    """
    tx = WriteTx(link)
    outcomes: list[Outcome] = []
    link.begin_write()
    try:
        for key in locks:  # in one order everywhere, so lock holders never wait in a circle
            link.lock(key)
        if len(bodies) == 1:
            try:
                outcomes.append((bodies[0](tx), None))
            except BatchError:
                raise
            except Exception as error:
                link.rollback()
                return [(None, error)]
        else:
            for body in bodies:
                link.savepoint()
                try:
                    outcomes.append((body(tx), None))
                except BatchError:
                    raise
                except Exception as error:
                    link.rollback_to_savepoint()
                    outcomes.append((None, error))
                link.release_savepoint()
        link.commit()
    except BaseException:
        link.rollback()
        raise
    return outcomes


class _Unit(Generic[T]):
    """One write: its body, and the future its caller waits on."""

    __slots__ = ("body", "conflicts", "future", "lock")

    def __init__(
        self, body: Callable[[WriteTx], T], future: asyncio.Future[T], lock: int | None
    ) -> None:
        self.body = body
        self.future = future
        self.lock = lock
        self.conflicts = 0  # times another transaction's conflict rolled it back

    def resolve(self, result: Any, error: BaseException | None) -> None:
        """Hand the outcome over (on the event loop); a caller that gave up has no future."""
        if self.future.done():
            return
        if isinstance(error, asyncio.CancelledError):
            self.future.cancel()
        elif error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(cast(T, result))
