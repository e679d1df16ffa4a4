"""Migrations on SQLite's file: fresh database, no-op re-run, refusal of newer schemas,
all-or-nothing apply, foreign keys. (PostgreSQL's: test_pg_migrations.py.)"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.storage import Database, MigrationError, SchemaTooNewError
from bot.storage.migrations import Migration, bundled, load_migrations
from bot.storage.sql import Engine
from bot.storage.sqlite.migrate import statements

BUNDLED_MIGRATIONS = bundled(Engine.SQLITE)
LATEST = len(load_migrations(BUNDLED_MIGRATIONS))


def schema_of(path: Path) -> tuple[int, list[tuple[str, str]]]:
    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        objects = conn.execute(
            "SELECT name, coalesce(sql, '') FROM sqlite_master ORDER BY name"
        ).fetchall()
    conn.close()
    return version, objects


def file_bytes(path: Path) -> bytes:
    return path.read_bytes()


async def scalar(db: Database, sql: str) -> object:
    row = await db.fetch_one(sql)
    assert row is not None
    return row[0]


def migrations_dir(tmp_path: Path, extra: dict[str, str]) -> Path:
    """The bundled migrations plus `extra` files, as a migrations folder."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    for entry in BUNDLED_MIGRATIONS.iterdir():
        if entry.name.endswith(".sql"):
            (folder / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
    for name, sql in extra.items():
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


async def test_fresh_database_is_created_configured_and_migrated(db_path: Path) -> None:
    assert not db_path.parent.exists()
    async with Database.open(db_path) as db:
        assert await scalar(db, "PRAGMA journal_mode") == "wal"
        assert await scalar(db, "PRAGMA foreign_keys") == 1
        assert await scalar(db, "PRAGMA synchronous") == 1  # NORMAL
        assert await scalar(db, "PRAGMA busy_timeout") == 5000
    version, objects = schema_of(db_path)
    assert version == LATEST
    names = {name for name, _ in objects}
    expected = {"app_state", "guild_settings", "avatars", "documents", "audit_log", "sessions"}
    assert expected <= names
    for table in expected:
        sql = dict(objects)[table]
        assert sql.rstrip().endswith(("STRICT", "STRICT, WITHOUT ROWID")), table


async def test_reopening_is_a_no_op(db_path: Path) -> None:
    async with Database.open(db_path):
        pass
    before = schema_of(db_path)
    content = file_bytes(db_path)
    async with Database.open(db_path):
        pass
    assert schema_of(db_path) == before
    assert file_bytes(db_path) == content


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
async def test_newer_database_is_refused_and_left_byte_identical(
    db_path: Path, journal_mode: str
) -> None:
    async with Database.open(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.execute(f"PRAGMA user_version = {LATEST + 7}")
    conn.close()
    content = file_bytes(db_path)

    with pytest.raises(SchemaTooNewError) as refused:
        async with Database.open(db_path):
            pytest.fail("a newer database must not open")

    message = str(refused.value)
    assert f"schema version {LATEST + 7}" in message
    assert f"up to {LATEST}" in message
    assert "upgrade the bot" in message
    assert refused.value.found == LATEST + 7
    assert refused.value.supported == LATEST
    assert file_bytes(db_path) == content


async def test_a_new_migration_is_applied_on_top_keeping_the_data(
    tmp_path: Path, db_path: Path
) -> None:
    async with Database.open(db_path) as db:
        await db.write(lambda tx: tx.execute("INSERT INTO app_state VALUES ('k', 'v')"))
    folder = migrations_dir(
        tmp_path,
        {
            f"{LATEST + 1:04d}_quota_policies.sql": """
                CREATE TABLE quota_policies (
                    guild_id INTEGER PRIMARY KEY,
                    seconds_per_day INTEGER CHECK (seconds_per_day >= 0)
                ) STRICT;
                ALTER TABLE guild_settings ADD COLUMN note TEXT;
            """
        },
    )
    async with Database.open(db_path, migrations_dir=folder) as db:
        assert await scalar(db, "PRAGMA user_version") == LATEST + 1
        assert await scalar(db, "SELECT value FROM app_state WHERE key = 'k'") == "v"
        await db.write(lambda tx: tx.execute("INSERT INTO quota_policies VALUES (1, 300)"))
    # The bundled code now meets a database one version ahead of it.
    with pytest.raises(SchemaTooNewError):
        async with Database.open(db_path):
            pass


async def test_a_failing_migration_rolls_back_everything(tmp_path: Path, db_path: Path) -> None:
    folder = migrations_dir(
        tmp_path,
        {
            f"{LATEST + 1:04d}_first.sql": "CREATE TABLE first_added (id INTEGER PRIMARY KEY);",
            f"{LATEST + 2:04d}_broken.sql": """
                CREATE TABLE second_added (id INTEGER PRIMARY KEY);
                INSERT INTO no_such_table VALUES (1);
            """,
        },
    )
    # On a fresh file, even the good migrations before the broken one leave nothing behind.
    with pytest.raises(MigrationError, match=f"{LATEST + 2:04d}_broken failed"):
        async with Database.open(db_path, migrations_dir=folder):
            pass
    assert schema_of(db_path) == (0, [])

    # On a current file, the version and schema stay as they were.
    async with Database.open(db_path):
        pass
    before = schema_of(db_path)
    with pytest.raises(MigrationError):
        async with Database.open(db_path, migrations_dir=folder):
            pass
    assert schema_of(db_path) == before


async def test_a_migration_may_rebuild_a_referenced_table(tmp_path: Path, db_path: Path) -> None:
    """Foreign keys are off while migrating, so SQLite's table-rebuild recipe works."""
    async with Database.open(db_path) as db:
        await db.write(
            lambda tx: tx.execute(
                "INSERT INTO avatars (id, guild_id, name, name_key, personality, voice_preset,"
                " created_by, created_at, updated_at) VALUES (7, 1, 'A', 'a', 'p', 'v', 1, 0, 0)"
            )
        )
        await db.write(
            lambda tx: tx.execute(
                "INSERT INTO documents (guild_id, avatar_id, runway_id, name, tokens, byte_size,"
                " added_by, created_at) VALUES (1, 7, 'doc', 'd', 1, 1, 1, 0)"
            )
        )
    avatars_sql = dict(schema_of(db_path)[1])["avatars"]
    rebuild = (
        avatars_sql.replace("CREATE TABLE avatars", "CREATE TABLE avatars_new")
        + """;
        INSERT INTO avatars_new SELECT * FROM avatars;
        DROP TABLE avatars;
        ALTER TABLE avatars_new RENAME TO avatars;
        """
    )
    folder = migrations_dir(tmp_path, {f"{LATEST + 1:04d}_rebuild.sql": rebuild})
    async with Database.open(db_path, migrations_dir=folder) as db:
        rows = await db.fetch_all("SELECT avatar_id, state FROM documents")
        assert [tuple(row) for row in rows] == [(7, "ATTACHED")]
        assert await scalar(db, "PRAGMA foreign_keys") == 1


@pytest.mark.parametrize(
    "breaking",
    [
        # a row pointing at no avatar
        """INSERT INTO documents (guild_id, avatar_id, runway_id, name, tokens, byte_size,
                                  added_by, created_at) VALUES (1, 999, 'doc', 'd', 1, 1, 1, 0);""",
        # a rebuild that loses the primary key the foreign keys point at
        """CREATE TABLE avatars_new AS SELECT * FROM avatars;
           DROP TABLE avatars;
           ALTER TABLE avatars_new RENAME TO avatars;""",
    ],
)
async def test_a_migration_breaking_a_foreign_key_is_rolled_back(
    tmp_path: Path, db_path: Path, breaking: str
) -> None:
    async with Database.open(db_path):
        pass
    before = schema_of(db_path)
    folder = migrations_dir(tmp_path, {f"{LATEST + 1:04d}_breaking.sql": breaking})
    with pytest.raises(MigrationError, match="foreign key"):
        async with Database.open(db_path, migrations_dir=folder):
            pass
    assert schema_of(db_path) == before


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["0001_a.sql", "0003_c.sql"], "without gaps"),
        (["0002_b.sql"], "without gaps"),
        (["0001_a.sql", "0001_b.sql"], "without gaps"),
        (["1_a.sql"], "NNNN_name.sql"),
        (["0001_Bad-Name.sql"], "NNNN_name.sql"),
    ],
)
def test_badly_numbered_migrations_are_rejected(
    tmp_path: Path, names: list[str], problem: str
) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match=problem):
        load_migrations(tmp_path)


def test_files_that_are_not_sql_are_ignored(tmp_path: Path) -> None:
    shutil.copytree(migrations_dir(tmp_path, {}), tmp_path / "copy")
    (tmp_path / "copy" / "README.md").write_text("notes", encoding="utf-8")
    assert len(load_migrations(tmp_path / "copy")) == LATEST


def test_statements_split_only_where_sqlite_would() -> None:
    migration = Migration(
        1,
        "tricky",
        """
        -- a comment; with a semicolon
        CREATE TABLE t (x TEXT DEFAULT 'a;b');
        CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN
            UPDATE t SET x = 'c;d' WHERE rowid = NEW.rowid;
        END;
        ;
        -- trailing comment
        """,
    )
    found = statements(migration)
    assert len(found) == 2
    assert found[0].endswith("DEFAULT 'a;b');")
    assert found[1].startswith("CREATE TRIGGER")
    assert found[1].endswith("END;")


def test_a_statement_without_its_semicolon_is_rejected() -> None:
    with pytest.raises(MigrationError, match="does not end with ';'"):
        statements(Migration(1, "open", "CREATE TABLE t (x);\nCREATE TABLE u (y)"))
