"""The process's one SQLite connection, configured and migrated, and how work reaches it.

aiosqlite owns the connection on a thread of its own and runs queued calls one at a time. Every
transaction here is a plain function run on that thread as one call, never a sequence of awaited
statements: two tasks' transactions can never interleave (no asyncio lock needed, none to forget),
a cancelled task cannot leave one half done, and one costs a single event loop/thread round trip.
Writes are group-committed on top of that (`writer.py`).

The price: a transaction body is synchronous. It must be quick SQL and arithmetic and never wait
on anything else (no network call inside a transaction, which is right anyway).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Self, TypeVar

import aiosqlite

from bot.storage.errors import StorageError
from bot.storage.migrations import (
    BUNDLED_MIGRATIONS,
    Migration,
    apply_pending,
    load_migrations,
    refuse_if_too_new,
)
from bot.storage.transaction import Params, Row, WriteTx
from bot.storage.writer import WriteQueue

log = logging.getLogger(__name__)

T = TypeVar("T")


class Database:
    """One open SQLite database, configured and migrated; create it with `Database.open`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._writes = WriteQueue(partial(_on_thread, conn))

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | Path,
        *,
        migrations_dir: Traversable = BUNDLED_MIGRATIONS,
        busy_timeout_ms: int = 5000,
    ) -> AsyncIterator[Self]:
        """Open (creating it and its folder if needed), configure and migrate the database.

        Raises `SchemaTooNewError` for a database written by a newer bot, leaving it untouched,
        and `MigrationError` if a migration fails, leaving it as it was.
        """
        path = Path(path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            version = await _on_thread(
                conn, partial(_prepare, path, migrations_dir, busy_timeout_ms)
            )
            log.info("database %s ready at schema version %d", path, version)
            database = cls(conn)
            try:
                yield database
            finally:
                await database._writes.idle()
        finally:
            await conn.close()

    async def write(self, body: Callable[[WriteTx], T]) -> T:
        """Run `body` atomically in a `BEGIN IMMEDIATE` transaction and return its result.

        Its changes are committed when this returns and undone if `body` raises (the exception
        propagates). Concurrent writes are group-committed: see `writer.py`.
        """
        return await self._writes.submit(body)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one query. Reads never wait for a transaction: none is ever open between calls."""
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None


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
    """Configure the connection and migrate; runs on the database thread.

    The version check comes before anything that could write to the file: even switching the
    journal mode to WAL changes its header, and a newer bot's database must stay byte-identical.
    """
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
    migrations: tuple[Migration, ...] = load_migrations(migrations_dir)
    refuse_if_too_new(conn, len(migrations), str(path))
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise StorageError(f"{path}: SQLite could not switch to WAL mode (it is {mode!r})")
    # With WAL, NORMAL never corrupts the database; a power cut may lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return apply_pending(conn, migrations, str(path))
