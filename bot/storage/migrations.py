"""Numbered SQL migrations, one folder per engine, the schema version kept in the database.

`migrations/sqlite/NNNN_name.sql` and `migrations/postgres/NNNN_name.sql` are numbered 1..N
without gaps, and file N means the same change on both engines (a test compares the schemas
they build). Each engine keeps its version inside the database (`PRAGMA user_version` on
SQLite, the `schema_version` table on PostgreSQL), applies every pending migration in one
transaction, so a failure leaves the database exactly as it was, and refuses a database whose
version is newer than its newest migration (written by a newer bot) before changing anything.

To add migration N: write `migrations/sqlite/NNNN_name.sql` and
`migrations/postgres/NNNN_name.sql` (see `bot/storage/README.md` for how types, triggers and
functions translate); `tests/storage/test_schema_parity.py` fails until both build the same
schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from bot.storage.errors import MigrationError, SchemaTooNewError
from bot.storage.sql import Engine

MIGRATIONS: Traversable = files("bot.storage") / "migrations"


def bundled(engine: Engine) -> Traversable:
    """The folder of `engine`'s migrations shipped with the bot."""
    return MIGRATIONS / engine.value


_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(directory: Traversable) -> tuple[Migration, ...]:
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


def refuse_if_too_new(found: int, supported: int, database: str) -> int:
    """Return `found`, or raise if this code cannot know that schema."""
    if found > supported:
        raise SchemaTooNewError(database, found, supported)
    return found


def has_code(sql: str) -> bool:
    """Whether the text holds more than whitespace, semicolons and `--` comments."""
    for line in sql.splitlines():
        code = line.split("--", 1)[0].strip(" \t;")
        if code:
            return True
    return False
