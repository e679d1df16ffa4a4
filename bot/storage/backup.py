"""Backing up and restoring the SQLite file, safely while the bot writes to it.

A backup uses SQLite's online backup API from a read-only connection, in one step: the copy is
one read transaction, so it is a snapshot of a single moment (every transaction committed
before it, none after), and in WAL mode the bot's writes go on meanwhile. It is written next
to its destination under a temporary name, switched to a single self-contained file (no WAL),
checked (`PRAGMA integrity_check`, a schema version this code knows), flushed to disk and only
then renamed into place, so a backup file that exists is a good one.

A restore checks the backup the same way, refuses while a bot process is running on the
database (its heartbeat is fresh), keeps a copy of the database it replaces, then copies the
backup in through the same API (which takes the file's locks, unlike copying files, and so
cannot mix the new file with the old one's write-ahead log), and checks the result.

Plain synchronous sqlite3: these run in a command, not on the bot's event loop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from bot.storage.errors import SchemaTooNewError, StorageError
from bot.storage.migrations import bundled, load_migrations
from bot.storage.sql import Engine
from bot.storage.sqlite.migrate import schema_version

BUSY_TIMEOUT_MS: Final = 10_000
COUNTED_TABLES: Final = ("guild_settings", "avatars", "documents", "sessions")


class BackupError(StorageError):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a verified database file holds, for the command's report."""

    path: Path
    schema_version: int
    bytes: int
    rows: dict[str, int]

    def describe(self) -> str:
        counts = ", ".join(f"{count} {table}" for table, count in self.rows.items())
        size = f"{self.bytes / 1_048_576:.1f} MiB"
        return f"{self.path} (schema {self.schema_version}, {size}: {counts})"


@dataclass(frozen=True, slots=True)
class RunningProcess:
    id: int
    host: str
    pid: int
    heartbeat_at: int


def create_backup(database: Path, target: Path) -> Snapshot:
    """Copy `database` to `target` (which must not exist yet) as one consistent snapshot."""
    if not database.is_file():
        raise BackupError(f"There is no database at {database} (check DATABASE_PATH).")
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new name, nothing was overwritten.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with _connect(database, read_only=True) as source, _connect(partial) as copy:
            source.backup(copy)  # one step: one read transaction, one moment
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        snapshot = verify(partial)
        _flush(partial)
        partial.replace(target)
        _flush(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return Snapshot(target, snapshot.schema_version, snapshot.bytes, snapshot.rows)


def verify(path: Path) -> Snapshot:
    """Check that `path` is an intact database of this bot with a schema this code knows."""
    if not path.is_file():
        raise BackupError(f"There is no file at {path}.")
    supported = len(load_migrations(bundled(Engine.SQLITE)))
    try:
        with _connect(path, read_only=True) as conn:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path} is damaged: {'; '.join(problems[:5])}")
            version = schema_version(conn)
            if version > supported:
                raise SchemaTooNewError(str(path), version, supported)
            if version == 0:
                raise BackupError(f"{path} is an SQLite file, but not a database of this bot.")
            rows = {
                table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed names
                for table in COUNTED_TABLES
            }
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a readable SQLite database ({error}).") from None
    return Snapshot(path, version, path.stat().st_size, rows)


def restore_backup(
    backup: Path, database: Path, *, alive_within: int, keep_current: bool = True
) -> tuple[Snapshot, Path | None]:
    """Replace `database` with the contents of `backup`; refuses while a bot process whose
    heartbeat is younger than `alive_within` seconds runs on it. Returns what the database
    now holds and where the replaced database was kept (None if there was none)."""
    wanted = verify(backup)
    kept: Path | None = None
    if database.is_file():
        running = running_processes(database, alive_within=alive_within)
        if running:
            raise BackupError(_still_running(database, running, alive_within))
        if keep_current:
            kept = _keep(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    with _connect(backup, read_only=True) as source, _connect(database) as target:
        source.backup(target)
    restored = verify(database)
    if restored.rows != wanted.rows or restored.schema_version != wanted.schema_version:
        raise BackupError(
            f"{database} does not match {backup} after the restore; {kept} is intact."
        )
    return restored, kept


def _keep(database: Path) -> Path:
    """A copy of the database a restore is about to replace: a verified backup, or, when the
    database is too damaged to back up (often why one restores), its files as they are."""
    kept = database.with_name(f"{database.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        return create_backup(database, kept).path
    except BackupError:
        for suffix in ("", "-wal"):
            source = database.with_name(database.name + suffix)
            if source.exists():
                shutil.copy2(source, kept.with_name(kept.name + suffix))
        return kept


def running_processes(database: Path, *, alive_within: int) -> list[RunningProcess]:
    """The bot processes that are (or were `alive_within` seconds ago) running on `database`:
    not stopped, with a recent heartbeat."""
    with _connect(database, read_only=True) as conn:
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'processes'"
        ).fetchone()
        if has_table is None:
            return []
        rows = conn.execute(
            "SELECT id, host, pid, heartbeat_at FROM processes"
            " WHERE stopped_at IS NULL AND heartbeat_at >= ?",
            (int(time.time()) - alive_within,),
        ).fetchall()
    return [RunningProcess(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


def _still_running(database: Path, running: list[RunningProcess], alive_within: int) -> str:
    names = ", ".join(f"pid {p.pid} on {p.host}" for p in running)
    return (
        f"The bot is running on {database} ({names}): stop it first, then restore. "
        f"(A process killed without stopping counts as running until its last heartbeat is "
        f"{alive_within} s old.) Nothing was changed."
    )


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{quote(str(path.resolve()))}{'?mode=ro' if read_only else ''}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        yield conn
    finally:
        conn.close()


def _flush(path: Path) -> None:
    """fsync a file or a folder, so a rename survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
