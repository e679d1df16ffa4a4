"""The database as every repository sees it, whichever engine holds it.

Two engines implement this interface: the SQLite file (`bot.storage.sqlite`, the default,
no set-up) and PostgreSQL (`bot.storage.postgres`, for several processes). `Database.open`
picks one from what it is given, a file path or a `postgresql://` URL, and nothing above
`bot/storage` ever imports an engine.

Every transaction is a plain synchronous function run on a database thread as one call, never
a sequence of awaited statements: two tasks' transactions can never interleave in a connection
(no asyncio lock needed, none to forget), a cancelled task cannot leave one half done, and one
costs a single event loop/thread round trip. Writes are group-committed on top of that
(`writer.py`). Quick lookups (`fetch_one`, `fetch_all`: a row by its key, the live sessions)
are single statements. Long reads (reports, CSV exports, reconciliation) run in `read`, in one
read-only snapshot on a connection of their own, so they never hold up a write.

The price: a unit of work is synchronous. It must be quick SQL and arithmetic and never wait
on anything else (no network call inside a transaction, which is right anyway).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from bot.storage.locks import LockKey
from bot.storage.sql import Engine, Params, Statement
from bot.storage.transaction import ReadTx, Row, WriteTx
from bot.telemetry.metrics import TransactionTimers, transaction_timers

T = TypeVar("T")

Trace = Callable[[str], None]
"""Hears the text of every statement the bot runs, before its parameters are bound."""

DEFAULT_POOL_SIZE = 5
"""PostgreSQL connections per process: one for the batch being committed, the rest for reads."""


class Database(ABC):
    """One open database, configured and migrated; create it with `Database.open`."""

    engine: Engine

    @staticmethod
    def open(
        target: str | Path,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        trace: Trace | None = None,
        **options: Any,
    ) -> AbstractAsyncContextManager[Database]:
        """Open, configure and migrate the database at `target`: an SQLite file's path
        (created with its folder if needed) or a `postgresql://` URL (the database must
        exist; its tables are created).

        Raises `SchemaTooNewError` for a database written by a newer bot, leaving it untouched,
        `MigrationError` if a migration fails, leaving it as it was, and (PostgreSQL)
        `DatabaseUnavailableError` when the server cannot be reached. `trace`, if given, hears
        every statement (debugging; the query-plan tests). `options` go to the engine.
        """
        if is_postgres_url(str(target)):
            from bot.storage.postgres.engine import PostgresDatabase  # noqa: PLC0415

            return PostgresDatabase.open(str(target), pool_size=pool_size, trace=trace, **options)
        from bot.storage.sqlite.engine import SqliteDatabase  # noqa: PLC0415

        return SqliteDatabase.open(Path(target), trace=trace, **options)

    async def write(self, body: Callable[[WriteTx], T], *, lock: LockKey | None = None) -> T:
        """Run `body` atomically in a write transaction and return its result.

        Its changes are committed when this returns and undone if `body` raises (the exception
        propagates). Concurrent writes are group-committed: see `writer.py`. With `lock`, the
        transaction holds that lock from its start (see `bot.storage.locks`): writers of every
        process that name the same lock run one after another.
        """
        with self._timers.write.time():
            return await self._write(body, lock)

    async def read(self, body: Callable[[ReadTx], T]) -> T:
        """Run `body` on a read-only connection, in one read transaction (one snapshot).

        For reads that may take long: they never wait for writes, nor writes for them.
        """
        with self._timers.read.time():
            return await self._read(body)

    async def fetch_all(self, sql: Statement, params: Params = ()) -> list[Row]:
        """Run one quick query (a lookup by key or of live rows) outside any transaction."""
        with self._timers.lookup.time():
            return await self._fetch_all(sql, params)

    async def fetch_one(self, sql: Statement, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @property
    def _timers(self) -> TransactionTimers:
        """The transaction-latency metric's series of this engine (`bot.telemetry.metrics`)."""
        return transaction_timers(self.engine.value)

    @abstractmethod
    async def _write(self, body: Callable[[WriteTx], T], lock: int | None) -> T: ...

    @abstractmethod
    async def _read(self, body: Callable[[ReadTx], T]) -> T: ...

    @abstractmethod
    async def _fetch_all(self, sql: Statement, params: Params) -> list[Row]: ...

    @abstractmethod
    async def optimize(self) -> None:
        """Refresh the planner's statistics where they are missing or stale (cheap when they
        are not); run on a schedule and at shutdown."""

    def dedicated_connection(self) -> AbstractAsyncContextManager[Any]:
        """A connection of its own, outside the pool, in autocommit: what LISTEN needs
        (PostgreSQL only; SQLite has no cross-process notifications)."""
        raise NotImplementedError(f"{self.engine.value} has no dedicated connections")


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))
