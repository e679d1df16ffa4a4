"""The SQLite engine: the process's connections to one file, configured and migrated.

One write connection: aiosqlite owns it on a thread of its own and runs queued calls one at a
time; write units reach it group-committed (`bot.storage.writer`), in `BEGIN IMMEDIATE`
transactions, so writers of every process on the file take turns. Quick lookups run there too:
they never wait for a transaction, since none is ever open between calls.

Long reads run on read-only connections of their own (`read`), each on its own thread, opened
on first use. WAL lets them read a consistent snapshot while the write connection commits, so a
report that takes a second never holds up a start queued behind it.

Everything SQLite-specific (PRAGMAs, the calendar functions the SQL calls, thread niceness)
stays in this package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from bot.storage.database import Database, Trace
from bot.storage.errors import ConstraintError, StorageError
from bot.storage.migrations import bundled
from bot.storage.rows import Row, row_type
from bot.storage.sql import Engine, Params, Statement, text_for
from bot.storage.sqlite.functions import register_functions
from bot.storage.sqlite.migrate import migrate, refuse_newer
from bot.storage.transaction import ReadTx, WriteTx
from bot.storage.writer import Batch, Outcome, WriteQueue

log = logging.getLogger(__name__)

T = TypeVar("T")

READERS = 2
"""Read-only connections for long reads: two reports run at once, a third waits its turn."""
CACHE_KIB = 32_768
"""Page cache per connection, filled only as pages are read: the indexes a start searches
(live sessions, this month's rollups, quota records of every active server) stay in memory
instead of being read again from the file at every start."""
READER_NICENESS = 10
"""How much lower the read connections' threads run than the rest of the bot."""
ANALYSIS_LIMIT = 1000
"""Rows ANALYZE samples per index: statistics good enough for the planner, in milliseconds
even on a table of millions."""


class SqliteLink:
    """A unit's view of an sqlite3 connection (see `bot.storage.transaction.Link`)."""

    engine = Engine.SQLITE
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        try:
            rows: list[Row] = self._conn.execute(sql, params).fetchall()
        except sqlite3.IntegrityError as error:
            raise ConstraintError(str(error)) from error
        return rows

    def execute(self, sql: str, params: Params) -> int:
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.IntegrityError as error:
            raise ConstraintError(str(error)) from error

    def lock(self, key: int) -> None:
        """Nothing to take: BEGIN IMMEDIATE already excludes every other writer."""

    def notify(self, channel: str) -> None:
        """Nobody else to wake: one process runs on the file."""

    def begin_write(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def savepoint(self) -> None:
        self._conn.execute("SAVEPOINT unit")

    def rollback_to_savepoint(self) -> None:
        self._conn.execute("ROLLBACK TO unit")

    def release_savepoint(self) -> None:
        self._conn.execute("RELEASE unit")

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()


class SqliteDatabase(Database):
    """One open SQLite database, configured and migrated."""

    engine = Engine.SQLITE

    def __init__(self, conn: aiosqlite.Connection, readers: _Readers) -> None:
        self._conn = conn
        self._writes = WriteQueue(self._run_batch)
        self._readers = readers

    @classmethod
    @asynccontextmanager
    async def open(  # type: ignore[override]
        cls,
        path: Path,
        *,
        migrations_dir: Traversable | None = None,
        busy_timeout_ms: int = 5000,
        readers: int = READERS,
        trace: Trace | None = None,
    ) -> AsyncIterator[Self]:
        """See `Database.open`."""
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        factory = _traced(trace) if trace is not None else sqlite3.Connection
        conn = await aiosqlite.connect(path, isolation_level=None, factory=factory)
        try:
            folder = migrations_dir if migrations_dir is not None else bundled(Engine.SQLITE)
            version = await _on_thread(conn, partial(_prepare, path, folder, busy_timeout_ms))
            log.info("database %s ready at schema version %d", path, version)
            reader_setup = partial(_prepare_reader, busy_timeout_ms)
            database = cls(conn, _Readers(path, readers, reader_setup, factory))
            try:
                yield database
            finally:
                await database._writes.idle()
                await database._readers.close()
                # Statistics for the planner, gathered where this run's queries showed a need.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await database.optimize()
        finally:
            await conn.close()

    async def _write(self, body: Callable[[WriteTx], T], lock: int | None) -> T:
        return await self._writes.submit(body, lock)

    async def _read(self, body: Callable[[ReadTx], T]) -> T:
        return await self._readers.run(partial(_read_unit, body))

    async def _fetch_all(self, sql: Statement, params: Params) -> list[Row]:
        rows = await self._conn.execute_fetchall(text_for(sql, self.engine), params)
        return list(rows)  # type: ignore[arg-type]  # the connection's row_factory makes Rows

    async def optimize(self) -> None:
        await _on_thread(self._conn, _optimize)

    async def _run_batch(self, batch: Batch) -> list[Outcome]:
        return await _on_thread(self._conn, lambda conn: batch(SqliteLink(conn)))


class _Readers:
    """Up to `size` read-only connections, each on its own thread, opened when first needed."""

    def __init__(
        self,
        path: Path,
        size: int,
        setup: Callable[[sqlite3.Connection], None],
        factory: type[sqlite3.Connection],
    ) -> None:
        self._path = path
        self._size = max(1, size)
        self._setup = setup
        self._factory = factory
        self._opened: list[aiosqlite.Connection] = []
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()

    async def run(self, call: Callable[[sqlite3.Connection], T]) -> T:
        conn = await self._acquire()
        try:
            return await _on_thread(conn, call)
        finally:
            # Even if the caller was cancelled: the connection runs its calls in order, so the
            # next reader simply queues behind the one still running.
            self._idle.put_nowait(conn)

    async def close(self) -> None:
        opened, self._opened = self._opened, []
        for conn in opened:
            await conn.close()

    async def _acquire(self) -> aiosqlite.Connection:
        if self._idle.empty() and len(self._opened) < self._size:
            conn = await aiosqlite.connect(self._path, isolation_level=None, factory=self._factory)
            self._opened.append(conn)
            await _on_thread(conn, self._setup)
            return conn
        return await self._idle.get()


async def _on_thread(conn: aiosqlite.Connection, call: Callable[[sqlite3.Connection], T]) -> T:
    """Run `call` with the raw connection on aiosqlite's thread, as one queued operation.

    aiosqlite has no public way to do this. `_execute` is what all of its own methods use; it and
    `_conn` have been stable for years, the version is pinned below 0.23, and every test of this
    package goes through here.
    """

    def run() -> T:
        return call(conn._conn)

    result: T = await conn._execute(run)  # type: ignore[no-untyped-call]
    return result


def _prepare(
    path: Path, migrations_dir: Traversable, busy_timeout_ms: int, conn: sqlite3.Connection
) -> int:
    """Configure the write connection and migrate; runs on the database thread.

    The version check comes before anything that could write to the file: even switching the
    journal mode to WAL changes its header, and a newer bot's database must stay byte-identical.
    """
    _configure(conn, busy_timeout_ms)
    found = refuse_newer(conn, migrations_dir, str(path))
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise StorageError(f"{path}: SQLite could not switch to WAL mode (it is {mode!r})")
    # With WAL, NORMAL never corrupts the database; a power cut may lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT:d}")
    version = migrate(conn, migrations_dir, str(path))
    if version != found:
        # New tables and indexes: the planner must not guess (see tests/storage/test_plans.py).
        conn.execute("ANALYZE")
    return version


def _prepare_reader(busy_timeout_ms: int, conn: sqlite3.Connection) -> None:
    _configure(conn, busy_timeout_ms)
    conn.execute("PRAGMA query_only = ON")
    _yield_cpu()


def _yield_cpu() -> None:
    """Lower this thread's CPU priority (Linux schedules threads one by one): on a machine
    with few cores, a long report then takes the CPU the write path leaves, not the reverse."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: reports just compete
        log.debug("read connections keep the normal CPU priority", exc_info=True)


def _traced(trace: Trace) -> type[sqlite3.Connection]:
    """A connection class that tells `trace` the text of each statement it executes."""

    class Traced(sqlite3.Connection):
        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            trace(sql)
            return super().execute(sql, parameters)

    return Traced


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return row_type(tuple(column[0] for column in cursor.description))(values)


def _configure(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    conn.row_factory = _row
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB:d}")
    register_functions(conn)


def _read_unit(body: Callable[[ReadTx], T], conn: sqlite3.Connection) -> T:
    conn.execute("BEGIN")
    try:
        return body(ReadTx(SqliteLink(conn)))
    finally:
        conn.execute("COMMIT")


def _optimize(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA optimize")
