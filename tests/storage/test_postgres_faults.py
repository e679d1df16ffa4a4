"""PostgreSQL faults: connections lost mid-run are retried and logged, nothing is lost or done
twice; a commit whose outcome is unknown is looked up on the server; two processes starting
at once migrate once; a newer schema is refused untouched."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.storage import Database, MigrationError, SchemaTooNewError
from bot.storage.migrations import bundled, load_migrations
from bot.storage.postgres.engine import (
    CommitOutcomeUnknownError,
    ConnectionLostError,
    PostgresLink,
)
from bot.storage.postgres.migrate import migrate, schema_version
from bot.storage.sql import Engine
from bot.storage.transaction import WriteTx
from tests.support.postgres import PostgresServer

LATEST = len(load_migrations(bundled(Engine.POSTGRES)))


def kill_connections(server: PostgresServer, url: str) -> int:
    """Terminate every connection to the database at `url` (what a server restart does)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.url(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
    return len(rows)


def increment(tx: WriteTx) -> int:
    row = tx.fetch_one("SELECT value FROM app_state WHERE key = 'n'")
    value = (0 if row is None else int(row[0])) + 1
    tx.execute(
        "INSERT INTO app_state VALUES ('n', :v) ON CONFLICT (key) DO UPDATE SET value = :v",
        {"v": str(value)},
    )
    return value


@pytest.fixture
def url(postgres_server: PostgresServer) -> Iterator[str]:
    found = postgres_server.fresh_database()
    yield found
    postgres_server.drop(found)


async def test_lost_connections_are_retried_and_logged(
    url: str, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with Database.open(url) as db:
        assert await db.write(increment) == 1
        assert await db.fetch_one("SELECT 1") is not None  # a reader connection too
        assert kill_connections(postgres_server, url) >= 1
        with caplog.at_level(logging.WARNING, "bot.storage.postgres.engine"):
            assert await db.write(increment) == 2
            assert await db.read(lambda tx: tx.fetch_all("SELECT * FROM app_state"))
            assert await db.fetch_one("SELECT value FROM app_state") is not None
        assert "database connection lost" in caplog.text
        results = await asyncio.gather(*(db.write(increment) for _ in range(50)))
        assert sorted(results) == list(range(3, 53))  # nothing lost, nothing twice


async def test_a_database_that_stays_down_fails_the_unit_clearly(
    url: str, postgres_server: PostgresServer
) -> None:
    async with Database.open(url) as db:
        await db.write(increment)
        name = url.rsplit("/", 1)[1]
        postgres_server.admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            kill_connections(postgres_server, url)
            with pytest.raises(Exception, match=r"127\.0\.0\.1"):
                await db.write(increment)
        finally:
            postgres_server.admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert await db.write(increment) == 2  # back: the unit that failed never ran


def transaction_id(url: str, *, commit: bool) -> str:
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO app_state VALUES (gen_random_uuid()::text, 'v')")
        row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        assert row is not None
        if commit:
            conn.commit()
        else:
            conn.rollback()
    return str(row[0])


def test_a_commit_in_doubt_is_looked_up_on_the_server(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        link = PostgresLink(conn, reconnect=lambda: psycopg.connect(url, autocommit=True))
        lost = OSError("connection lost during COMMIT")
        link._resolve_doubt(transaction_id(url, commit=True), lost)  # committed: kept
        with pytest.raises(ConnectionLostError, match="rolled back"):  # aborted: run again
            link._resolve_doubt(transaction_id(url, commit=False), lost)
        with pytest.raises(CommitOutcomeUnknownError, match="not run again"):
            # an id the server cannot place (here: one it has not reached yet)
            link._resolve_doubt(str(int(transaction_id(url, commit=True)) + 10**9), lost)


def test_processes_starting_together_migrate_once(postgres_server: PostgresServer) -> None:
    url = postgres_server.empty_database()
    errors: list[BaseException] = []
    versions: list[int] = []

    def start() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                versions.append(migrate(conn, bundled(Engine.POSTGRES), url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert versions == [LATEST] * 4
        with psycopg.connect(url) as conn:
            assert schema_version(conn) == LATEST
            rows = conn.execute("SELECT count(*) FROM schema_version").fetchone()
            assert rows == (1,)
    finally:
        postgres_server.drop(url)


def dump(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return (
            conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall()
            + conn.execute("SELECT version FROM schema_version").fetchall()
        )


async def test_a_newer_database_is_refused_and_left_untouched(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (LATEST + 3,))
    before = dump(url)
    with pytest.raises(SchemaTooNewError, match=f"schema version {LATEST + 3}"):
        async with Database.open(url):
            pytest.fail("a newer database must not open")
    assert dump(url) == before


async def test_a_failing_migration_leaves_the_database_as_it_was(url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for entry in bundled(Engine.POSTGRES).iterdir():
        (folder / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / f"{LATEST + 1:04d}_good.sql").write_text("CREATE TABLE added (id bigint);")
    (folder / f"{LATEST + 2:04d}_broken.sql").write_text("INSERT INTO no_such_table VALUES (1);")
    before = dump(url)
    with pytest.raises(MigrationError, match=f"{LATEST + 2:04d}_broken failed"):
        async with Database.open(url, migrations_dir=folder):
            pass
    assert dump(url) == before


def set_value(key: str, value: str, *, then_wait: float = 0.0) -> Callable[[WriteTx], None]:
    def body(tx: WriteTx) -> None:
        tx.execute("UPDATE app_state SET value = :v WHERE key = :k", {"k": key, "v": value})
        if then_wait:
            tx.fetch_all("SELECT pg_sleep(:s)", {"s": then_wait})

    return body


async def test_batches_of_two_processes_taking_rows_in_opposite_orders_both_commit(
    url: str,
) -> None:
    """Each process's batch locks one row, waits, then wants the other's: PostgreSQL aborts
    one as a deadlock. That unit was rolled back to its savepoint and runs again; no caller
    sees the deadlock, and every write is there once."""
    async with Database.open(url) as first, Database.open(url) as second:
        await first.write(
            lambda tx: tx.execute("INSERT INTO app_state VALUES ('a', '-'), ('b', '-')")
        )
        await asyncio.gather(
            first.write(set_value("a", "first", then_wait=0.3)),
            first.write(set_value("b", "first")),
            second.write(set_value("b", "second", then_wait=0.3)),
            second.write(set_value("a", "second")),
        )
        values = await first.fetch_all("SELECT key, value FROM app_state ORDER BY key")
        # Whichever lost the deadlock ran its unit again after the winner committed.
        assert {row[1] for row in values} <= {"first", "second"}
