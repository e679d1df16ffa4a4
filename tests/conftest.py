"""What every suite shares: the database engines the storage, service and end-to-end tests
run on.

A test that asks for `database_target` runs twice, once on an SQLite file and once on a
fresh PostgreSQL database (`tests/support/postgres.py`: one server per test process, started
on first use). Without PostgreSQL's binaries the PostgreSQL half is skipped, saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, missing_reason

ENGINES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_target(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str | Path]:
    """Where a test's database is: an SQLite file's path, or a fresh PostgreSQL database."""
    yield from _target(engine, tmp_path / "data" / "bot.db", request, migrated=True)


@pytest.fixture
def empty_target(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str | Path]:
    """Like `database_target`, but without the bot's schema (for migration tests)."""
    yield from _target(engine, tmp_path / "empty" / "bot.db", request, migrated=False)


def _target(
    engine: str, path: Path, request: pytest.FixtureRequest, *, migrated: bool
) -> Iterator[str | Path]:
    if engine == "sqlite":
        yield path
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.fresh_database() if migrated else server.empty_database()
    yield url
    server.drop(url)


def _heavy_first(item: pytest.Item) -> int:
    """The multi-process cluster test (five bot processes and PostgreSQL) starts first, and
    the end-to-end suites, whose fake Discord holds the bot to a 3 s acknowledgement, come
    last: with xdist's loadscope the other worker then spends the cluster test's two minutes
    on storage and service tests, not on tests that a starved CPU would fail."""
    path = Path(str(item.path))
    if path.name == "test_cluster.py":
        return 0
    return 2 if "e2e" in path.parts else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_heavy_first)  # stable: each module's tests stay together, in order
