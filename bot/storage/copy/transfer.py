"""The copy itself: one read transaction on the SQLite file, one write transaction on
PostgreSQL (see the package note for why that makes a re-run the whole recovery).

Inside the target's transaction every table is first locked (ALTER TABLE ... DISABLE TRIGGER
USER takes an exclusive lock), then checked empty, so no bot process can write between the
check and the copy. The bot's own triggers stay off while rows go in: they guard live changes
(a call is inserted live and ended by an UPDATE, which rolls it up), and the rows copied are
already ended and rolled up. Foreign keys stay checked. Turning the triggers off needs the
tables' owner, which is the role that migrated them, the bot's own.

Plain synchronous sqlite3 and psycopg: this runs in a command, not on the bot's event loop.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote as quote_path

import psycopg

from bot.storage.backup import running_processes
from bot.storage.copy.checks import Figures, MismatchError, compare, measure
from bot.storage.copy.tables import (
    Table,
    differences,
    identity_columns,
    quote,
    source_tables,
    target_columns,
)
from bot.storage.errors import SchemaTooNewError, StorageError
from bot.storage.migrations import bundled, load_migrations
from bot.storage.postgres.engine import connect, describe, first_line
from bot.storage.postgres.migrate import migrate
from bot.storage.postgres.migrate import schema_version as postgres_version
from bot.storage.sql import Engine
from bot.storage.sqlite.migrate import schema_version as sqlite_version

BATCH_ROWS: Final = 5_000
"""Rows read from SQLite at a time; COPY streams them on, so memory stays flat."""
PROGRESS_SECONDS: Final = 5.0
"""A long table reports how far it got this often."""
LOCK_TIMEOUT: Final = "10s"
"""How long the copy waits for a table another session holds, before giving up."""
CONNECT_TIMEOUT_SECONDS: Final = 10
BUSY_TIMEOUT_MS: Final = 10_000

Progress = Callable[[str], None]


class CopyError(StorageError):
    """A copy refused before anything was written; the message says why and what to do."""


class CopyFailedError(StorageError):
    """The copy broke off (the connection was lost, the server refused a row); it was rolled
    back, so the target holds none of it."""


@dataclass(frozen=True, slots=True)
class CopyReport:
    source: Path
    target: str  # where, without the password
    figures: Figures
    seconds: float

    def describe(self) -> str:
        return (
            f"Copied {self.figures.total_rows:,} rows in {len(self.figures.rows)} tables"
            f" from {self.source} to {self.target} in {self.seconds:.1f} s; row counts and"
            f" the figures of all {len(self.figures.servers['calls']):,} servers with calls"
            " match."
        )


def copy_database(
    source: Path,
    url: str,
    *,
    alive_within: int,
    progress: Progress = lambda _: None,
    batch_rows: int = BATCH_ROWS,
) -> CopyReport:
    """Copy the bot's SQLite database at `source` into the empty PostgreSQL database at `url`
    (creating its tables first if it has none). Refuses (`CopyError`, `SchemaTooNewError`)
    while a bot process runs on `source` (a heartbeat younger than `alive_within` seconds),
    when the source's schema is not this code's, or when the target holds any row; raises
    `MismatchError` if the copy does not check out. Whatever goes wrong, the target keeps
    no row of it."""
    where = describe(url)
    with _source(source) as reader:
        _check_source(reader, source, alive_within)
        tables = source_tables(reader)
        with connect(url, where) as writer:
            _refuse_foreign_tables(writer, where)
            migrate(writer, bundled(Engine.POSTGRES), where)
            problems = differences(tables, target_columns(writer))
            if problems:
                raise CopyError(
                    f"{where} does not have this bot's tables ({'; '.join(problems)}). "
                    "Copy into a new, empty database. Nothing was copied."
                )
            began = time.monotonic()
            reader.execute("BEGIN")  # one read transaction: one moment of the file
            try:
                figures = _Copier(reader, writer, where, progress, batch_rows).run(tables)
            except psycopg.Error as error:
                raise CopyFailedError(
                    f"the copy into {where} broke off and was rolled back: {first_line(error)}"
                ) from error
            finally:
                reader.rollback()
            _analyze(writer, progress)
    return CopyReport(source, where, figures, time.monotonic() - began)


@dataclass(frozen=True, slots=True)
class _Copier:
    reader: sqlite3.Connection
    writer: psycopg.Connection[Any]
    where: str
    progress: Progress
    batch_rows: int

    def run(self, tables: list[Table]) -> Figures:
        wanted = measure(self.reader.execute, tables)
        writer = self.writer
        with writer.transaction():
            writer.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            writer.execute("SET LOCAL statement_timeout = 0")
            for table in tables:
                writer.execute(f"ALTER TABLE {table.quoted} DISABLE TRIGGER USER")
            _refuse_rows(writer, tables, self.where)
            for table in tables:
                self.copy_table(table, wanted.rows[table.name])
            for table in tables:
                writer.execute(f"ALTER TABLE {table.quoted} ENABLE TRIGGER USER")
            _move_identities(writer)
            found = measure(writer.execute, tables)
            problems = compare(wanted, found)
            if problems:
                raise MismatchError(problems)
        return found

    def copy_table(self, table: Table, total: int) -> None:
        began = last = time.monotonic()
        done = 0
        rows = self.reader.execute(f"SELECT {table.column_list} FROM {table.quoted}")  # noqa: S608 - schema names
        with self.writer.cursor().copy(
            f"COPY {table.quoted} ({table.column_list}) FROM STDIN"
        ) as copy:
            while batch := rows.fetchmany(self.batch_rows):
                for row in batch:
                    copy.write_row(row)
                done += len(batch)
                now = time.monotonic()
                if now - last >= PROGRESS_SECONDS and done < total:
                    last = now
                    self.progress(
                        f"{table.name}: {done:,} of {total:,} rows{_rate(done, now - began)}"
                    )
        self.progress(f"{table.name}: {done:,} rows{_rate(done, time.monotonic() - began)}")


def _rate(rows: int, seconds: float) -> str:
    if rows == 0:
        return ""
    return f" in {seconds:.1f} s ({rows / max(seconds, 1e-6):,.0f} rows/s)"


def _refuse_rows(writer: psycopg.Connection[Any], tables: list[Table], where: str) -> None:
    holding = [
        table.name
        for table in tables
        if _one(writer.execute(f"SELECT EXISTS (SELECT 1 FROM {table.quoted})"))  # noqa: S608 - schema names
    ]
    if holding:
        raise CopyError(
            f"{where} is not empty (rows in {_some(holding)}): the copy only goes into "
            "an empty database, so it never mixes two deployments' data. Create a new database "
            "(or drop and recreate this one if nothing in it is needed). Nothing was changed."
        )


def _refuse_foreign_tables(writer: psycopg.Connection[Any], where: str) -> None:
    """A database without the bot's schema must have no tables at all: the bot's would be
    created among another application's."""
    if postgres_version(writer) > 0:
        return
    found = [
        str(row[0])
        for row in writer.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name"
        )
    ]
    if found:
        raise CopyError(
            f"{where} holds tables that are not this bot's ({_some(found)}): copy into a new, "
            "empty database. Nothing was changed."
        )


def _analyze(writer: psycopg.Connection[Any], progress: Progress) -> None:
    """The planner's statistics, so the bot's first queries are planned on the real rows."""
    try:
        writer.execute("ANALYZE")
    except psycopg.Error as error:  # the copy is committed; autovacuum will get there too
        progress(f"ANALYZE failed ({first_line(error)}); autovacuum will gather statistics")


def _some(names: list[str], shown: int = 4) -> str:
    more = f" and {len(names) - shown} more tables" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _move_identities(writer: psycopg.Connection[Any]) -> None:
    """Past the copied ids, so the next row PostgreSQL numbers gets a free one."""
    for table, column in identity_columns(writer):
        writer.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, %s),"  # noqa: S608 - schema names
            f" coalesce(max({quote(column)}), 0) + 1, false) FROM {quote(table)}",
            (quote(table), column),
        )


def _check_source(reader: sqlite3.Connection, source: Path, alive_within: int) -> None:
    found = sqlite_version(reader)
    supported = len(load_migrations(bundled(Engine.SQLITE)))
    if found > supported:
        raise SchemaTooNewError(str(source), found, supported)
    if found == 0:
        raise CopyError(f"{source} is an SQLite file, but not a database of this bot.")
    if found < supported:
        raise CopyError(
            f"{source} is at schema version {found}; this code copies version {supported}. "
            "Start this version of the bot on it once (it migrates the file), stop it, then "
            "copy. Nothing was copied."
        )
    running = running_processes(source, alive_within=alive_within)
    if running:
        names = ", ".join(f"pid {process.pid} on {process.host}" for process in running)
        raise CopyError(
            f"The bot is running on {source} ({names}); what it writes after the copy would "
            f"be lost. Stop it, then copy. (A process killed without stopping counts as "
            f"running until its last heartbeat is {alive_within} s old.) Nothing was copied."
        )


@contextlib.contextmanager
def _source(path: Path) -> Iterator[sqlite3.Connection]:
    if not path.is_file():
        raise CopyError(f"There is no database at {path} (check --from or DATABASE_PATH).")
    try:
        conn = sqlite3.connect(
            f"file:{quote_path(str(path.resolve()))}?mode=ro", uri=True, isolation_level=None
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.DatabaseError as error:
        raise CopyError(f"{path} is not a readable SQLite database ({error}).") from None
    try:
        yield conn
    finally:
        conn.close()


def _one(cursor: psycopg.Cursor[Any]) -> object:
    row = cursor.fetchone()
    return None if row is None else row[0]
