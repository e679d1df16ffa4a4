"""The process's SQLite connections, configured and migrated, and how work reaches them.

One write connection: aiosqlite owns it on a thread of its own and runs queued calls one at a
time. Every transaction here is a plain function run on that thread as one call, never a
sequence of awaited statements: two tasks' transactions can never interleave (no asyncio lock
needed, none to forget), a cancelled task cannot leave one half done, and one costs a single
event loop/thread round trip. Writes are group-committed on top of that (`writer.py`). Quick
lookups (`fetch_one`, `fetch_all`: a row by its key, the live sessions) run there too.

Long reads (reports, CSV exports, reconciliation) run on read-only connections of their own
(`read`), each on its own thread, opened on first use. WAL lets them read a consistent
snapshot while the write connection commits, so a report that takes a second never holds up
a start queued behind it, and the write connection only ever runs short transactions.

The price: a unit of work is synchronous. It must be quick SQL and arithmetic and never wait
on anything else (no network call inside a transaction, which is right anyway).

Everything engine-specific (connections, PRAGMAs, the calendar functions the SQL calls) stays
in this module; repositories see only `write`, `read`, `fetch_*` and SQL text.
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

from bot.storage.errors import StorageError
from bot.storage.local_days import register_functions
from bot.storage.migrations import (
    BUNDLED_MIGRATIONS,
    Migration,
    apply_pending,
    load_migrations,
    refuse_if_too_new,
)
from bot.storage.transaction import Params, ReadTx, Row, WriteTx
from bot.storage.writer import WriteQueue
from bot.telemetry.metrics import transaction_timers

log = logging.getLogger(__name__)

T = TypeVar("T")
ENGINE = "sqlite"
"""This engine's name in the transaction-latency metric (`bot.telemetry.metrics`)."""

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

Trace = Callable[[str], None]


class Database:
    """One open SQLite database, configured and migrated; create it with `Database.open`."""

    def __init__(self, conn: aiosqlite.Connection, readers: _Readers) -> None:
        self._conn = conn
        self._writes = WriteQueue(partial(_on_thread, conn))
        self._readers = readers
        self._timers = transaction_timers(ENGINE)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | Path,
        *,
        migrations_dir: Traversable = BUNDLED_MIGRATIONS,
        busy_timeout_ms: int = 5000,
        readers: int = READERS,
        trace: Trace | None = None,
    ) -> AsyncIterator[Self]:
        """Open (creating it and its folder if needed), configure and migrate the database.

        Raises `SchemaTooNewError` for a database written by a newer bot, leaving it untouched,
        and `MigrationError` if a migration fails, leaving it as it was. `trace`, if given, hears
        the text of every statement the bot runs, before its parameters are bound (debugging;
        the query-plan tests).
        """
        path = Path(path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        factory = _traced(trace) if trace is not None else sqlite3.Connection
        conn = await aiosqlite.connect(path, isolation_level=None, factory=factory)
        try:
            version = await _on_thread(
                conn, partial(_prepare, path, migrations_dir, busy_timeout_ms)
            )
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

    async def write(self, body: Callable[[WriteTx], T]) -> T:
        """Run `body` atomically in a `BEGIN IMMEDIATE` transaction and return its result.

        Its changes are committed when this returns and undone if `body` raises (the exception
        propagates). Concurrent writes are group-committed: see `writer.py`.
        """
        with self._timers.write.time():
            return await self._writes.submit(body)

    async def read(self, body: Callable[[ReadTx], T]) -> T:
        """Run `body` on a read-only connection, in one read transaction (one snapshot).

        For reads that may take long: they never wait for writes, nor writes for them.
        """
        with self._timers.read.time():
            return await self._readers.run(partial(_read_unit, body))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one quick query on the write connection's thread (a lookup by key or of live
        rows). It never waits for a transaction: none is ever open between calls."""
        with self._timers.lookup.time():
            return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def optimize(self) -> None:
        """Refresh the planner's statistics where they are missing or stale (cheap when they
        are not); run on a schedule and at shutdown."""
        await _on_thread(self._conn, _optimize)


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
    migrations: tuple[Migration, ...] = load_migrations(migrations_dir)
    found = refuse_if_too_new(conn, len(migrations), str(path))
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise StorageError(f"{path}: SQLite could not switch to WAL mode (it is {mode!r})")
    # With WAL, NORMAL never corrupts the database; a power cut may lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT:d}")
    version = apply_pending(conn, migrations, str(path))
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


def _configure(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB:d}")
    register_functions(conn)


def _read_unit(body: Callable[[ReadTx], T], conn: sqlite3.Connection) -> T:
    conn.execute("BEGIN")
    try:
        return body(ReadTx(conn))
    finally:
        conn.execute("COMMIT")


def _optimize(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA optimize")
