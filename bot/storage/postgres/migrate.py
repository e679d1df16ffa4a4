"""Applying PostgreSQL's migrations, tracked in the `schema_version` table.

Several processes may start at once against one database: each reads the version first
(refusing a newer schema before changing anything), and the one transaction that applies the
pending migrations takes a transaction-scoped advisory lock and reads the version again, so
exactly one process migrates and the others find the work done. A transaction-scoped lock,
unlike a session lock, also works through a pooler in transaction mode (PgBouncer). Each file
runs whole in one `execute` (PostgreSQL's simple query protocol takes a script as it is).
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from typing import Any

import psycopg

from bot.storage.errors import MigrationError
from bot.storage.locks import LockKey
from bot.storage.migrations import load_migrations, refuse_if_too_new

MIGRATION_LOCK_TIMEOUT = "60s"
"""How long a process waits for another one's migration before giving up."""

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  integer NOT NULL CHECK (version >= 0)
)
"""


def schema_version(conn: psycopg.Connection[Any]) -> int:
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if exists is None or not exists[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: psycopg.Connection[Any], directory: Traversable, database: str) -> int:
    """Apply every pending migration in one transaction; return the resulting version.

    `conn` is in autocommit mode. Statistics are gathered after a change, as on SQLite.
    """
    migrations = load_migrations(directory)
    supported = len(migrations)
    if refuse_if_too_new(schema_version(conn), supported, database) == supported:
        return supported
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'")
        conn.execute("SET LOCAL statement_timeout = 0")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(LockKey.MIGRATIONS),))
        current = refuse_if_too_new(schema_version(conn), supported, database)
        if current == supported:  # another process migrated while this one waited
            return supported
        conn.execute(_VERSION_TABLE)
        for migration in migrations[current:]:
            try:
                conn.execute(migration.sql.encode())
            except psycopg.Error as error:
                raise MigrationError(f"migration {migration.label} failed: {error}") from error
        conn.execute(
            "INSERT INTO schema_version (version) VALUES (%s)"
            " ON CONFLICT (only_row) DO UPDATE SET version = excluded.version",
            (supported,),
        )
    conn.execute("ANALYZE")
    return supported
