"""Applying SQLite's migrations, tracked in `PRAGMA user_version` (see `bot.storage.migrations`).

These functions are synchronous: they run on the database thread.
"""

from __future__ import annotations

import sqlite3
from importlib.resources.abc import Traversable

from bot.storage.errors import MigrationError
from bot.storage.migrations import Migration, has_code, load_migrations, refuse_if_too_new


def statements(migration: Migration) -> list[str]:
    """Split a migration's script into statements.

    `executescript` would commit the surrounding transaction, so each statement is executed on
    its own; `sqlite3.complete_statement` knows about strings, comments and triggers.
    """
    found: list[str] = []
    *pieces, tail = migration.sql.split(";")
    pending = ""
    for piece in pieces:
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if has_code(pending):
                found.append(pending.strip())
            pending = ""
    if has_code(pending + tail):
        raise MigrationError(f"{migration.label}: the last statement does not end with ';'")
    return found


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def refuse_newer(conn: sqlite3.Connection, directory: Traversable, database: str) -> int:
    """The file's schema version, or `SchemaTooNewError` if this code cannot know it."""
    return refuse_if_too_new(schema_version(conn), len(load_migrations(directory)), database)


def migrate(conn: sqlite3.Connection, directory: Traversable, database: str) -> int:
    """Apply every pending migration in one transaction and return the resulting version.

    Foreign keys are switched off meanwhile (the PRAGMA is a no-op inside a transaction), so a
    migration may rebuild a table the way SQLite recommends; the keys are checked before commit.
    """
    migrations = load_migrations(directory)
    supported = len(migrations)
    if refuse_if_too_new(schema_version(conn), supported, database) == supported:
        return supported
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between the check above and BEGIN.
            current = refuse_if_too_new(schema_version(conn), supported, database)
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
        for statement in statements(migration):
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
