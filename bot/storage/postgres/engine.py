"""The PostgreSQL engine: a pool of psycopg connections, each used by one thread at a time.

Units of work stay what they are on SQLite: plain synchronous functions, run as one call on a
database thread with a connection of the pool (psycopg 3 in its synchronous form; see
`bench/pg_drivers.py` for why not asyncpg). Writes are group-committed by the same
`WriteQueue`, in `READ COMMITTED` transactions on a thread of their own; long reads run in
`REPEATABLE READ READ ONLY` transactions (one snapshot, as on SQLite) on the other
connections, and quick lookups in autocommit. Every connection has a statement and a lock
timeout, so nothing waits forever.

Faults. A connection lost before its batch's COMMIT was sent loses nothing: the batch is run
again on a fresh connection, after a back-off, and logged. A connection lost during COMMIT
leaves the outcome unknown; the batch's transaction id was read before COMMIT, and
`pg_xact_status` on a new connection tells whether it committed (the units' results are
handed over), aborted (the batch is run again) or cannot be known (every unit of the batch
fails with `CommitOutcomeUnknownError`: a non-idempotent unit is never run twice in silence).
A server unreachable at start-up is `DatabaseUnavailableError`, naming host and port, never the
password.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from importlib.resources.abc import Traversable
from typing import Any, Final, Self, TypeVar

import psycopg
import psycopg.errors
from psycopg.adapt import Buffer, Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.storage.database import Database, Trace
from bot.storage.errors import ConstraintError, DatabaseUnavailableError, StorageError
from bot.storage.migrations import bundled
from bot.storage.postgres.migrate import migrate
from bot.storage.rows import Row, row_type
from bot.storage.sql import Engine, Params, Statement, text_for, to_pyformat
from bot.storage.transaction import ReadTx, WriteTx
from bot.storage.writer import Batch, BatchError, Outcome, WriteQueue

log = logging.getLogger(__name__)

T = TypeVar("T")

STATEMENT_TIMEOUT_MS: Final = 30_000
"""No statement runs longer: a runaway query fails instead of holding a connection."""
LOCK_TIMEOUT_MS: Final = 10_000
"""No statement waits longer for a lock (another process's transaction)."""
CONNECT_TIMEOUT_SECONDS: Final = 10
POOL_WAIT_SECONDS: Final = 3.0
"""How long a unit waits for a pooled connection. Each database thread has a connection of its
own in the pool (threads: the size; connections: the size), so a wait only ever means the pool
is reconnecting; a wait that runs out counts as a lost connection and is retried."""
RETRIES: Final = 6
"""Attempts after a lost connection, with back-off from 0.1 s doubling to 3.2 s: about 6 s
in all, long enough for a server restart or a failover to be ridden out."""


class ConnectionLostError(BatchError):
    """The connection broke before the transaction committed: nothing of it was kept, so
    running it again is safe."""


class CommitOutcomeUnknownError(StorageError):
    """The connection broke during COMMIT and the server cannot tell whether the
    transaction committed; the bot does not run it again (it may have)."""


class PostgresLink:
    """A unit's view of a psycopg connection (see `bot.storage.transaction.Link`).

    Transaction control (BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO) is queued and sent with the
    next statement's trip as one simple query: a unit inside a batch costs one round trip for
    its savepoints ("RELEASE SAVEPOINT unit; SAVEPOINT unit") instead of two, and the batch's
    last RELEASE travels with the transaction id read before COMMIT.
    """

    engine = Engine.POSTGRES
    __slots__ = ("_conn", "_queued", "_reconnect", "_trace")

    def __init__(
        self,
        conn: psycopg.Connection[Row],
        trace: Trace | None = None,
        reconnect: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        self._conn = conn
        self._trace = trace
        self._reconnect = reconnect
        self._queued: list[str] = []

    def _run(self, sql: str, params: Params) -> psycopg.Cursor[Row]:
        self._send_queued()
        if self._trace is not None:
            self._trace(sql)
        try:
            return self._conn.execute(to_pyformat(sql), params)
        except psycopg.IntegrityError as error:
            raise ConstraintError(first_line(error)) from error
        except psycopg.OperationalError as error:
            if self._conn.broken:
                raise ConnectionLostError(first_line(error)) from error
            raise

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        cursor = self._run(sql, params)
        return cursor.fetchall() if cursor.description is not None else []

    def execute(self, sql: str, params: Params) -> int:
        return self._run(sql, params).rowcount

    def lock(self, key: int) -> None:
        self._run("SELECT pg_advisory_xact_lock(?)", (key,))

    def notify(self, channel: str) -> None:
        # Sent with the next trip: PostgreSQL delivers it at COMMIT, drops it on a rollback
        # (of the unit's savepoint too). Channels are identifiers of `Channel`, never input.
        assert channel.isidentifier(), channel
        self._queued.append(f"NOTIFY {channel}")

    def begin_write(self) -> None:
        self._queued.append("BEGIN")

    def savepoint(self) -> None:
        self._queued.append("SAVEPOINT unit")

    def rollback_to_savepoint(self) -> None:
        self._queued.append("ROLLBACK TO SAVEPOINT unit")

    def release_savepoint(self) -> None:
        self._queued.append("RELEASE SAVEPOINT unit")

    def commit(self) -> None:
        self._queued.append("SELECT pg_current_xact_id_if_assigned()::text")
        cursor = self._send_queued()
        while cursor.nextset():  # the last result is the transaction id
            pass
        row = cursor.fetchone()
        xid = None if row is None else row[0]
        try:
            self._conn.execute("COMMIT")
        except psycopg.OperationalError as error:
            if not self._conn.broken:
                raise
            if xid is None:  # it wrote nothing: there is nothing to lose or to doubt
                raise ConnectionLostError(first_line(error)) from error
            self._resolve_doubt(xid, error)

    def rollback(self) -> None:
        self._queued.clear()  # what was never sent needs no undoing
        if self._conn.broken or self._conn.closed:
            return  # the server rolled it back when the connection went
        if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self._conn.execute("ROLLBACK")

    def begin_read(self) -> None:
        self._queued.append("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _send_queued(self) -> psycopg.Cursor[Row]:
        """Send the queued transaction control as one simple query (one round trip)."""
        script, self._queued = "; ".join(self._queued), []
        cursor = self._conn.cursor()
        if not script:
            return cursor
        try:
            return cursor.execute(script.encode())
        except psycopg.OperationalError as error:
            if self._conn.broken:
                raise ConnectionLostError(first_line(error)) from error
            raise

    def _resolve_doubt(self, xid: str, error: Exception) -> None:
        """The connection broke during COMMIT: ask the server how transaction `xid` ended."""
        log.warning("connection lost while committing transaction %s; asking its status", xid)
        status = None
        for attempt in range(RETRIES):
            try:
                assert self._reconnect is not None, "write links can reconnect"
                with self._reconnect() as conn:
                    found = conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()
                status = None if found is None else found[0]
                if status != "in progress":
                    break
            except psycopg.OperationalError:
                log.warning("asking for transaction %s's status failed", xid, exc_info=True)
            except psycopg.Error:  # the server cannot place the id: the outcome is unknown
                log.warning("transaction %s's status cannot be told", xid, exc_info=True)
                break
            time.sleep(_backoff(attempt))
        if status == "committed":
            log.warning("transaction %s had committed: its units are kept", xid)
            return
        if status == "aborted":
            raise ConnectionLostError(f"transaction {xid} was rolled back") from error
        raise CommitOutcomeUnknownError(
            f"the connection to the database was lost while committing, and whether the "
            f"transaction committed cannot be known (status {status!r}); it is not run again"
        ) from error


class PostgresDatabase(Database):
    """One PostgreSQL database, migrated, reached through a pool of connections."""

    engine = Engine.POSTGRES

    def __init__(self, url: str, pool: ConnectionPool[Any], size: int, trace: Trace | None):
        self._url = url
        self._pool = pool
        self._trace = trace
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="pg-writer")
        self._readers = ThreadPoolExecutor(max(1, size - 1), thread_name_prefix="pg-reader")
        self._writes = WriteQueue(self._run_batch, conflict=_lost_a_conflict)

    @classmethod
    @asynccontextmanager
    async def open(  # type: ignore[override]
        cls,
        url: str,
        *,
        pool_size: int,
        trace: Trace | None = None,
        migrations_dir: Traversable | None = None,
    ) -> AsyncIterator[Self]:
        """See `Database.open`."""
        where = describe(url)
        folder = migrations_dir if migrations_dir is not None else bundled(Engine.POSTGRES)
        version = await asyncio.to_thread(_migrate, url, folder, where)
        log.info("database %s ready at schema version %d", where, version)
        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(2, pool_size),
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            configure=_configure,
            open=False,
            name="bot",
        )
        try:
            await asyncio.to_thread(pool.open, wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except PoolTimeout as error:
            await asyncio.to_thread(pool.close)
            raise DatabaseUnavailableError(f"{where} stopped answering: {error}") from error
        database = cls(url, pool, max(2, pool_size), trace)
        try:
            yield database
        finally:
            await database._writes.idle()
            database._writer.shutdown(wait=True)
            database._readers.shutdown(wait=True)
            await asyncio.to_thread(pool.close)

    async def _write(self, body: Callable[[WriteTx], T], lock: int | None) -> T:
        return await self._writes.submit(body, lock)

    async def _read(self, body: Callable[[ReadTx], T]) -> T:
        return await self._retrying(self._readers, partial(_read_unit, body, self._trace))

    async def _fetch_all(self, sql: Statement, params: Params) -> list[Row]:
        text = text_for(sql, self.engine)
        return await self._retrying(
            self._readers, lambda conn: PostgresLink(conn, self._trace).fetch_all(text, params)
        )

    async def optimize(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum keeps the planner's statistics fresh."""

    @asynccontextmanager
    async def dedicated_connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection outside the pool, in autocommit, for LISTEN (see `Database`)."""
        conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
        try:
            yield conn
        finally:
            await conn.close()

    async def _run_batch(self, batch: Batch) -> list[Outcome]:
        def run(conn: psycopg.Connection[Row]) -> list[Outcome]:
            return batch(PostgresLink(conn, self._trace, self._fresh_connection))

        return await self._retrying(self._writer, run)

    def _fresh_connection(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)

    async def _retrying(
        self, executor: ThreadPoolExecutor, call: Callable[[psycopg.Connection[Row]], T]
    ) -> T:
        """Run `call` with a pooled connection on `executor`; again, after a back-off, when
        the connection was lost before anything was committed (see the module note)."""
        loop = asyncio.get_running_loop()
        for attempt in range(RETRIES + 1):
            try:
                return await loop.run_in_executor(executor, self._with_connection, call)
            except (ConnectionLostError, PoolTimeout) as error:
                if attempt == RETRIES:
                    raise DatabaseUnavailableError(
                        f"lost the connection to {describe(self._url)} and could not get it "
                        f"back: {error}"
                    ) from error
                delay = _backoff(attempt)
                log.warning("database connection lost (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _with_connection(self, call: Callable[[psycopg.Connection[Row]], T]) -> T:
        with self._pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
            return call(conn)


def describe(url: str) -> str:
    """Where the database is, for messages: host, port and database name, never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL database in DATABASE_URL (which cannot be parsed)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    name = parts.get("dbname") or parts.get("user") or "(default)"
    return f"PostgreSQL at {host}:{port}, database {name}"


def connect(url: str, where: str) -> psycopg.Connection[Any]:
    """A connection of its own, in autocommit; `DatabaseUnavailableError` naming `where`
    (never the password) when the server cannot be reached."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as error:
        raise DatabaseUnavailableError(
            f"{where} could not be reached: {without_secrets(first_line(error), url)}"
        ) from None  # the chained error would repeat what the message leaves out


_PASSWORD = re.compile(r"://[^/@:]*:([^@]+)@")


def without_secrets(message: str, url: str) -> str:
    """`message` without `url` or its password: libpq quotes a URL it cannot parse whole."""
    message = message.replace(url, "(the URL)")
    password = _PASSWORD.search(url)
    return message.replace(password[1], "***") if password else message


def _migrate(url: str, folder: Traversable, where: str) -> int:
    with connect(url, where) as conn:
        _configure(conn)
        return migrate(conn, folder, where)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every connection: our row type, whole numbers as ints, timeouts, READ COMMITTED."""
    conn.row_factory = _rows
    conn.adapters.register_loader("numeric", _WholeNumberLoader)
    conn.execute(
        "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false),"
        " set_config('default_transaction_isolation', 'read committed', false)",
        (str(STATEMENT_TIMEOUT_MS), str(LOCK_TIMEOUT_MS)),
    )


def _rows(cursor: psycopg.Cursor[Any]) -> Callable[[Any], Row]:
    names = tuple(column.name for column in cursor.description or ())
    return row_type(names)


class _WholeNumberLoader(Loader):
    """`sum()` of integers is `numeric` on PostgreSQL; the bot's sums are whole numbers and
    SQLite returns them as int, so they load as int (a fraction stays a Decimal)."""

    def load(self, data: Buffer) -> int | Decimal:
        text = bytes(data)
        return int(text) if b"." not in text else Decimal(text.decode())


def _read_unit(
    body: Callable[[ReadTx], T], trace: Trace | None, conn: psycopg.Connection[Row]
) -> T:
    link = PostgresLink(conn, trace)
    link.begin_read()
    try:
        return body(ReadTx(link))
    finally:
        link.rollback()


def _backoff(attempt: int) -> float:
    return float(min(0.1 * 2**attempt, 3.2))


def first_line(error: psycopg.Error) -> str:
    """The first line of a driver error, which names what failed (never a password)."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _lost_a_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure (SQLSTATE class 40): the statement was aborted
    because another transaction held what it needed; running the unit again is safe."""
    return isinstance(error, psycopg.Error) and (error.sqlstate or "").startswith("40")
