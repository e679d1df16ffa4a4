"""`python -m bot.storage.copy` on real files and a real PostgreSQL server.

The source has a row in every table (`tests/support/deployment.py`); the copy must carry each
row unchanged, leave PostgreSQL numbering new rows past the copied ones with its triggers back
on, refuse what it cannot do safely, and leave the target re-runnable whatever breaks.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.storage import Database, SchemaTooNewError
from bot.storage.copy import CopyError, CopyFailedError, MismatchError, copy_database, transfer
from bot.storage.copy import __main__ as cli
from bot.storage.copy.tables import identity_columns, quote
from bot.storage.errors import ConstraintError
from bot.storage.migrations import bundled, load_migrations
from bot.storage.sql import Engine
from tests.storage.helpers import insert_session
from tests.support.deployment import now, populated
from tests.support.postgres import PostgresServer
from tests.support.schema import BOOKKEEPING, describe

REPO = Path(__file__).resolve().parents[2]
ALIVE_WITHIN = 30
PASSWORD = "hunter2-never-shown"


@pytest.fixture(scope="module")
def populated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once for the module (a few seconds); each test copies it."""
    path = tmp_path_factory.mktemp("deployment") / "bot.db"
    asyncio.run(populated(path))
    return path


@pytest.fixture
def source(populated_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "bot.db"
    shutil.copyfile(populated_file, path)
    return path


# The copy's target is PostgreSQL: the suite's engine fixture, held to that engine.
pytestmark = pytest.mark.parametrize("engine", ["postgres"])


@pytest.fixture
def target(empty_target: str | Path) -> str:
    """A PostgreSQL database without tables: the copy creates them."""
    return str(empty_target)


def by_name(where: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table as a column -> value mapping, in a fixed order."""
    tables = sorted(describe(where).columns.keys() - BOOKKEEPING)
    found: dict[str, list[dict[str, Any]]] = {}
    if isinstance(where, Path):
        conn = sqlite3.connect(where)
        conn.row_factory = sqlite3.Row
        try:
            for t in tables:
                found[t] = [dict(row) for row in conn.execute(f"SELECT * FROM {quote(t)}")]
        finally:
            conn.close()
    else:
        with psycopg.connect(where, row_factory=psycopg.rows.dict_row) as pg:
            for t in tables:
                found[t] = list(pg.execute(f"SELECT * FROM {quote(t)}"))
    return {t: sorted(rows, key=lambda row: repr(sorted(row.items()))) for t, rows in found.items()}


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as pg:
        tables = [
            str(row[0])
            for row in pg.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name <> 'schema_version'"
                " AND table_type = 'BASE TABLE'"
            )
        ]
        return {t: int(pg.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]


def test_a_copy_carries_every_row_of_every_table(source: Path, target: str) -> None:
    lines: list[str] = []
    report = copy_database(source, target, alive_within=ALIVE_WITHIN, progress=lines.append)

    wanted, copied = by_name(source), by_name(target)
    assert wanted.keys() == copied.keys(), "both engines have the same tables"
    unseeded = sorted(table for table, rows in wanted.items() if not rows)
    assert not unseeded, (
        f"tables without rows in the test's source: {unseeded}. Give each new table rows in "
        "tests/support/deployment.py, so its copy is checked here."
    )
    for table in wanted:
        assert copied[table] == wanted[table], f"{table} differs after the copy"
    assert report.figures.rows == {table: len(rows) for table, rows in wanted.items()}
    assert {line.split(":")[0] for line in lines} == set(wanted), "a progress line per table"
    assert any(line.startswith("sessions: ") and "rows/s" in line for line in lines)


async def test_after_a_copy_postgres_numbers_past_the_copied_rows_with_its_triggers_on(
    source: Path, target: str
) -> None:
    copy_database(source, target, alive_within=ALIVE_WITHIN)
    with psycopg.connect(target) as pg:
        for table, column in identity_columns(pg):
            top = pg.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()
            following = pg.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s))", (table, column)
            ).fetchone()
            assert top is not None
            assert following is not None
            assert following[0] == top[0] + 1, f"{table}.{column} would reuse an id"
        pg.rollback()
        highest = pg.execute("SELECT max(id) FROM sessions").fetchone()
    assert highest is not None
    async with Database.open(target) as db:
        made = await db.write(
            lambda tx: insert_session(
                tx,
                guild_id=1,
                member_id=2,
                state="SETTLED",
                created_at=now(),
                used_seconds=5,
                ended_at=now() + 5,
            )
        )
        assert made > highest[0]
        rolled = await db.fetch_one("SELECT sum(seconds) FROM rollup_guild_days WHERE guild_id = 1")
        assert rolled is not None
        assert rolled[0] == 5, "the roll-up trigger is on again"
        with pytest.raises(ConstraintError):  # a call is inserted live: the guard is on again
            await db.write(
                lambda tx: tx.execute(
                    "INSERT INTO sessions (guild_id, member_id, avatar_label, dialect, state,"
                    " max_seconds, created_at) VALUES (1, 2, 'x', 'seed', 'SETTLED', 60, 1)"
                )
            )


def test_a_second_copy_is_refused_and_changes_nothing(source: Path, target: str) -> None:
    copy_database(source, target, alive_within=ALIVE_WITHIN)
    before = row_counts(target)
    with pytest.raises(CopyError, match="is not empty"):
        copy_database(source, target, alive_within=ALIVE_WITHIN)
    assert row_counts(target) == before


async def test_a_database_a_bot_already_started_on_is_refused(
    source: Path, database_target: str | Path
) -> None:
    url = str(database_target)  # migrated, as the bot leaves it
    async with Database.open(url) as db:
        await db.write(
            lambda tx: tx.execute("INSERT INTO app_state (key, value) VALUES ('k', 'v')")
        )
    with pytest.raises(CopyError, match=r"not empty \(rows in app_state\)"):
        copy_database(source, url, alive_within=ALIVE_WITHIN)
    assert sum(row_counts(url).values()) == 1


def test_a_database_holding_another_application_s_tables_is_refused_untouched(
    source: Path, target: str
) -> None:
    with psycopg.connect(target, autocommit=True) as pg:
        pg.execute("CREATE TABLE invoices (id bigint PRIMARY KEY)")
    with pytest.raises(CopyError, match=r"tables that are not this bot's \(invoices\)"):
        copy_database(source, target, alive_within=ALIVE_WITHIN)
    assert row_counts(target) == {"invoices": 0}, "no table of the bot was created"


def run_command(source: Path, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "bot.storage.copy", "--from", str(source)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_copies_then_refuses_with_status_2_never_showing_the_password(
    source: Path, target: str, tmp_path: Path
) -> None:
    url = target.replace("postgres@", f"postgres:{PASSWORD}@")  # the server trusts loopback
    first = run_command(source, url, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "sessions: " in first.stdout
    assert "rows/s" in first.stdout
    assert "match" in first.stdout
    second = run_command(source, url, tmp_path)
    assert second.returncode == 2
    assert second.stderr.startswith("Refused: ")
    assert "is not empty" in second.stderr
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert PASSWORD not in output


def test_an_interrupted_copy_leaves_an_empty_target_and_a_rerun_completes(
    source: Path, target: str
) -> None:
    def interrupt(line: str) -> None:
        if line.startswith("sessions: "):  # most tables are in by now
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_database(source, target, alive_within=ALIVE_WITHIN, progress=interrupt)
    counts = row_counts(target)
    assert "sessions" in counts, "the schema was created"
    assert sum(counts.values()) == 0
    copy_database(source, target, alive_within=ALIVE_WITHIN)
    assert by_name(target) == by_name(source)


def test_a_copy_whose_connection_dies_rolls_back_and_a_rerun_completes(
    source: Path, target: str, postgres_server: PostgresServer
) -> None:
    name = target.rsplit("/", 1)[1]

    def cut(line: str) -> None:
        if line.startswith("rollup_"):
            with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    with pytest.raises(CopyFailedError, match="rolled back"):
        copy_database(source, target, alive_within=ALIVE_WITHIN, progress=cut)
    assert sum(row_counts(target).values()) == 0
    copy_database(source, target, alive_within=ALIVE_WITHIN)
    assert by_name(target) == by_name(source)


async def test_a_copy_killed_half_way_leaves_an_empty_target_and_a_rerun_completes(
    tmp_path: Path, target: str
) -> None:
    """SIGKILL: no handler runs, the server alone rolls the copy back. The source is large
    enough (30,000 calls) that the biggest tables are still to come when it dies."""
    big = tmp_path / "big.db"
    await populated(big, sessions=30_000)
    await asyncio.to_thread(kill_half_way, big, target, tmp_path)
    assert sum(row_counts(target).values()) == 0
    copy_database(big, target, alive_within=ALIVE_WITHIN)
    assert by_name(target) == by_name(big)


def kill_half_way(source: Path, url: str, cwd: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    command = subprocess.Popen(
        [sys.executable, "-m", "bot.storage.copy", "--from", str(source), "--to", url],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert command.stdout is not None
    for line in command.stdout:
        if line.startswith("rollup_account_hours: "):  # sessions and intents still to come
            command.kill()
            break
    assert command.wait(timeout=60) == -signal.SIGKILL, "killed before it finished"


@pytest.mark.parametrize("offset", [-1, 1])
def test_a_source_at_another_schema_version_is_refused_before_the_target_is_touched(
    source: Path, target: str, offset: int
) -> None:
    supported = len(load_migrations(bundled(Engine.SQLITE)))
    conn = sqlite3.connect(source)
    conn.execute(f"PRAGMA user_version = {supported + offset}")
    conn.close()
    expected = SchemaTooNewError if offset > 0 else CopyError
    with pytest.raises(expected, match=f"{supported + offset}"):
        copy_database(source, target, alive_within=ALIVE_WITHIN)
    assert row_counts(target) == {}, "the target was not even migrated"


def test_a_source_a_bot_is_running_on_is_refused(source: Path, target: str) -> None:
    conn = sqlite3.connect(source)
    with conn:
        conn.execute("UPDATE processes SET stopped_at = NULL, heartbeat_at = ?", (now(),))
    conn.close()
    with pytest.raises(CopyError, match="The bot is running on"):
        copy_database(source, target, alive_within=ALIVE_WITHIN)
    assert row_counts(target) == {}


def dump_and_restore(programs: Path, url: str, dump: Path, into: str) -> None:
    """The README's commands for backing up PostgreSQL and restoring it."""
    for command in (
        ["pg_dump", "--format=custom", f"--file={dump}", url],
        ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction",
         f"--dbname={into}", str(dump)],
    ):  # fmt: skip
        result = subprocess.run(
            [str(programs / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr


async def test_the_readme_s_pg_dump_and_pg_restore_round_trip_keeps_everything(
    source: Path, target: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    copy_database(source, target, alive_within=ALIVE_WITHIN)
    dump = tmp_path / "runway.dump"
    restored = postgres_server.empty_database()
    try:
        dump_and_restore(postgres_server.bin, target, dump, restored)
        assert by_name(restored) == by_name(source)
        async with Database.open(restored) as db:  # the bot accepts it as it is
            made = await db.write(
                lambda tx: insert_session(
                    tx, guild_id=1, member_id=2, state="RESERVED", created_at=now()
                )
            )
        highest = max(row["id"] for row in by_name(source)["sessions"])
        assert made == highest + 1
    finally:
        postgres_server.drop(restored)


def test_a_copy_that_does_not_check_out_is_rolled_back(
    source: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison is the last step inside the transaction: a difference found there
    (here, made up: a real one would be a bug) leaves nothing behind."""
    monkeypatch.setattr(transfer, "compare", lambda *_: ["server 1's calls: 3 against 2"])
    with pytest.raises(MismatchError, match="server 1's calls"):
        copy_database(source, target, alive_within=ALIVE_WITHIN)
    assert sum(row_counts(target).values()) == 0


def test_the_command_without_a_postgres_target_says_what_it_needs(
    source: Path,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli.main(["--from", str(source)]) == 2
    assert cli.main(["--from", str(source), "--to", str(tmp_path / "other.db")]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err
    assert row_counts(target) == {}, "nothing was created anywhere"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://bot:{PASSWORD}@127.0.0.1:1/runway",  # nothing listens
        f"postgresql://bot:{PASSWORD}@127.0.0.1:port/runway",  # not a port
        f"postgresql://bot:{PASSWORD}@[::1/runway",  # libpq quotes a URL it cannot parse
        f"postgresql://bot:{PASSWORD}@127.0.0.1/runway?sslmode=sometimes",
    ],
)
def test_a_target_that_cannot_be_reached_is_one_line_without_the_password(
    source: Path, target: str, url: str, tmp_path: Path
) -> None:
    result = run_command(source, url, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("Refused: ")
    assert "could not be reached" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert PASSWORD not in result.stdout + result.stderr
    assert row_counts(target) == {}
