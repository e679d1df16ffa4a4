"""Numbered SQL migrations, tracked in `PRAGMA user_version`.

Files are named `NNNN_name.sql` and numbered 1..N without gaps. Every pending migration runs in
one transaction, so a failure leaves the database exactly as it was. A database whose version is
newer than the newest migration was written by a newer bot and is refused before anything,
even the journal mode, is changed.

These functions are synchronous: they run on the database thread (see `database.py`).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from bot.storage.errors import MigrationError, SchemaTooNewError

BUNDLED_MIGRATIONS: Traversable = files("bot.storage") / "migrations"

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """Split the script into statements.

        `executescript` would commit the surrounding transaction, so each statement is executed
        on its own; `sqlite3.complete_statement` knows about strings, comments and triggers.
        """
        statements: list[str] = []
        *pieces, tail = self.sql.split(";")
        pending = ""
        for piece in pieces:
            pending += piece + ";"
            if sqlite3.complete_statement(pending):
                if _has_code(pending):
                    statements.append(pending.strip())
                pending = ""
        if _has_code(pending + tail):
            raise MigrationError(f"{self.label}: the last statement does not end with ';'")
        return statements

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def _has_code(sql: str) -> bool:
    """Whether the text holds more than whitespace, semicolons and `--` comments."""
    for line in sql.splitlines():
        code = line.split("--", 1)[0].strip(" \t;")
        if code:
            return True
    return False


def load_migrations(directory: Traversable = BUNDLED_MIGRATIONS) -> tuple[Migration, ...]:
    """Read the migrations in `directory`, checking they are numbered 1..N."""
    found: list[Migration] = []
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            raise MigrationError(f"{entry.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return tuple(found)


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def refuse_if_too_new(conn: sqlite3.Connection, supported: int, database: str) -> int:
    """Return the file's schema version, or raise if this code cannot know that schema."""
    found = schema_version(conn)
    if found > supported:
        raise SchemaTooNewError(database, found, supported)
    return found


def apply_pending(
    conn: sqlite3.Connection, migrations: tuple[Migration, ...], database: str
) -> int:
    """Apply every pending migration in one transaction and return the resulting version.

    Foreign keys are switched off meanwhile (the PRAGMA is a no-op inside a transaction), so a
    migration may rebuild a table the way SQLite recommends; the keys are checked before commit.
    """
    supported = len(migrations)
    if refuse_if_too_new(conn, supported, database) == supported:
        return supported
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between the check above and BEGIN.
            current = refuse_if_too_new(conn, supported, database)
            for migration in migrations[current:]:
                _run(conn, migration)
            conn.execute(f"PRAGMA user_version = {supported:d}")
            _check_foreign_keys(conn)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(foreign_keys):d}")
    return supported


def _run(conn: sqlite3.Connection, migration: Migration) -> None:
    try:
        for statement in migration.statements():
            conn.execute(statement)
    except sqlite3.Error as error:
        raise MigrationError(f"migration {migration.label} failed: {error}") from error


def _check_foreign_keys(conn: sqlite3.Connection) -> None:
    try:
        broken = conn.execute("PRAGMA foreign_key_check").fetchone()
    except sqlite3.Error as error:  # e.g. a key now points at a column that is not unique
        raise MigrationError(f"migrations broke a foreign key definition: {error}") from error
    if broken is not None:
        raise MigrationError(f"migrations left rows that break a foreign key: {tuple(broken)}")
