"""Both engines' migrations build the same schema: the same tables with the same columns
(type family and nullability), primary and unique keys, named indexes (columns, uniqueness,
partial conditions), views and triggers. What the triggers and calendar functions do is
checked by running them: every storage test runs on both engines, and test_calendar.py
compares the calendars. A migration written for one engine only fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import Database
from bot.storage.migrations import MIGRATIONS, bundled, load_migrations
from bot.storage.sql import Engine
from tests.support.postgres import PostgresServer
from tests.support.schema import describe


def test_both_engines_have_the_same_migrations() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations(bundled(Engine.SQLITE))]
    postgres = [(m.version, m.name) for m in load_migrations(bundled(Engine.POSTGRES))]
    assert sqlite == postgres, "migration N must exist on both engines, with the same name"


def test_no_migration_sits_outside_an_engine_folder() -> None:
    """A migration dropped in the old single folder would be silently ignored."""
    stray = [entry.name for entry in MIGRATIONS.iterdir() if entry.name.endswith(".sql")]
    assert not stray, f"move {stray} into migrations/sqlite/ (and port it to postgres/)"


async def test_the_migrated_schemas_match(tmp_path: Path, postgres_server: PostgresServer) -> None:
    sqlite_path = tmp_path / "bot.db"
    async with Database.open(sqlite_path):
        pass
    url = postgres_server.empty_database()
    try:
        async with Database.open(url):
            pass
        sqlite, postgres = describe(sqlite_path), describe(url)
    finally:
        postgres_server.drop(url)
    assert sqlite.columns == postgres.columns
    assert sqlite.primary_keys == postgres.primary_keys
    assert sqlite.unique_keys == postgres.unique_keys
    assert sqlite.indexes == postgres.indexes
    assert sqlite.views == postgres.views
    assert sqlite.triggers == postgres.triggers


@pytest.mark.parametrize("engine", [Engine.SQLITE, Engine.POSTGRES])
def test_every_migration_file_says_what_it_changes(engine: Engine) -> None:
    for migration in load_migrations(bundled(engine)):
        assert migration.sql.lstrip().startswith("--"), f"{migration.label} needs a heading"
