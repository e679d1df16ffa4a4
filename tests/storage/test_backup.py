"""Backups taken while the bot writes are snapshots of one moment, and restore to exactly that.

A writer plays the bot's part on a real database: a stream of session starts, joins and
settlements (each settlement rolling the session up, as in production), one transaction at a
time, logging each one after it committed. A backup taken in the middle of it must hold a
prefix of that log, whole: every transaction committed before the moment, none after, and
rollups equal to their recomputation from the sessions.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.settings import Dialect
from bot.storage import Database, EndReason, SessionRepository
from bot.storage.admission import LiveLimits
from bot.storage.backup import BackupError, create_backup, restore_backup, verify
from bot.storage.errors import SchemaTooNewError
from bot.storage.intents import ProcessRepository
from bot.storage.rollups import differences
from bot.storage.sessions import NewSession
from bot.storage.sqlite.engine import SqliteLink
from bot.storage.sqlite.functions import register_functions
from bot.storage.transaction import ReadTx

REPO = Path(__file__).resolve().parents[2]
GUILDS = (101, 202, 303)
ALIVE_WITHIN = 30


@dataclass(frozen=True)
class Step:
    """One committed transaction of the writer: a session reserved, opened or settled."""

    kind: str
    session_id: int
    used: int = 0


async def write_stream(
    db: Database, log: list[Step], stop: asyncio.Event, midway: asyncio.Event | None = None
) -> None:
    """Starts and settlements, one transaction at a time, until `stop` (at least 40 steps),
    and one call more once it sees `stop`, so that call certainly comes after it; `midway` is
    set after 20 steps."""
    sessions = SessionRepository(db)
    member = 0
    last = False
    while not last:
        last = stop.is_set() and len(log) >= 40
        member += 1
        reserved = await sessions.reserve(
            NewSession(
                guild_id=GUILDS[member % len(GUILDS)],
                member_id=member,
                avatar_label="Nova",
                dialect=Dialect.PRODUCTION,
                max_seconds=300,
                preset_id="influencer",
            ),
            LiveLimits(),
        )
        log.append(Step("reserve", reserved.id))
        opened = await sessions.mark_open(
            reserved.id,
            runway_id=f"runway-{reserved.id}",
            join_code_hash=os.urandom(32),
            code_expires_at=reserved.created_at + 180,
        )
        assert opened is not None
        log.append(Step("open", reserved.id))
        if member % 3:  # every third call is still live when the stream stops
            used = member % 300
            settled = await sessions.settle(
                reserved.id,
                used_seconds=used,
                end_reason=EndReason.COMPLETED,
                ended_at=reserved.created_at + used,
            )
            assert settled
            log.append(Step("settle", reserved.id, used))
        if midway is not None and len(log) >= 20:
            midway.set()


def visible(conn: sqlite3.Connection, step: Step) -> bool:
    row = conn.execute(
        "SELECT state, used_seconds FROM sessions WHERE id = ?", (step.session_id,)
    ).fetchone()
    if step.kind == "reserve":
        return row is not None
    if step.kind == "open":
        return row is not None and row[0] in ("OPEN", "SETTLED")
    return row is not None and row == ("SETTLED", step.used)


def leftovers(folder: Path, pattern: str) -> list[Path]:
    return list(folder.glob(pattern))


def rollup_differences(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    register_functions(conn)
    try:
        return dict(differences(ReadTx(SqliteLink(conn))))
    finally:
        conn.close()


def sessions_of(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT * FROM sessions ORDER BY id").fetchall()
    finally:
        conn.close()


async def test_a_backup_taken_while_the_bot_writes_restores_one_whole_moment(
    tmp_path: Path,
) -> None:
    database, backup = tmp_path / "bot.db", tmp_path / "b" / "backup.db"
    restored = tmp_path / "restored.db"
    log: list[Step] = []
    stop, midway = asyncio.Event(), asyncio.Event()
    async with Database.open(database) as db:
        writer = asyncio.create_task(write_stream(db, log, stop, midway))
        await midway.wait()
        made = await asyncio.to_thread(create_backup, database, backup)
        stop.set()
        await writer

    assert made.rows["sessions"] > 0
    assert verify(backup).rows == made.rows
    assert not leftovers(backup.parent, "*-wal"), "a backup is one self-contained file"
    snapshot, kept = restore_backup(backup, restored, alive_within=ALIVE_WITHIN)
    assert kept is None  # there was no database there to keep
    conn = sqlite3.connect(f"file:{restored}?mode=ro", uri=True)
    try:
        seen = [visible(conn, step) for step in log]
    finally:
        conn.close()
    moment = seen.count(True)
    assert seen == [True] * moment + [False] * (len(log) - moment), "not one moment"
    assert 0 < moment < len(log), "the backup was taken while the writer was writing"
    assert snapshot.rows["sessions"] == sum(step.kind == "reserve" for step in log[:moment])
    assert rollup_differences(restored) == {}
    assert rollup_differences(database) == {}


async def test_restore_replaces_a_stopped_database_and_keeps_the_old_one(
    tmp_path: Path,
) -> None:
    database, backup = tmp_path / "bot.db", tmp_path / "backup.db"
    async with Database.open(database) as db:
        log: list[Step] = []
        stop = asyncio.Event()
        stop.set()
        await write_stream(db, log, stop)
    create_backup(database, backup)
    before = sessions_of(database)
    async with Database.open(database) as db:  # the bot goes on after the backup
        more: list[Step] = []
        await write_stream(db, more, stop)
    assert len(sessions_of(database)) > len(before)

    restored, kept = restore_backup(backup, database, alive_within=ALIVE_WITHIN)

    assert sessions_of(database) == before
    assert kept is not None
    assert len(sessions_of(kept)) > len(before)  # what the restore replaced is kept whole
    assert restored.rows["sessions"] == len(before)
    async with Database.open(database) as db:  # the bot starts on the restored file
        assert len(await SessionRepository(db).open_sessions()) == sum(
            row[0] == "OPEN" for row in _states(database)
        )


def _states(path: Path) -> list[tuple[str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT state FROM sessions").fetchall()
    finally:
        conn.close()


async def test_restore_refuses_while_the_bot_runs_and_changes_nothing(tmp_path: Path) -> None:
    database, backup = tmp_path / "bot.db", tmp_path / "backup.db"
    async with Database.open(database) as db:
        processes = ProcessRepository(db)
        running = await processes.register()
    create_backup(database, backup)
    async with Database.open(database) as db:
        await SessionRepository(db).reserve(
            NewSession(101, 7, "Nova", Dialect.PRODUCTION, 300, preset_id="influencer"),
            LiveLimits(),
        )
    before = sessions_of(database)

    with pytest.raises(BackupError, match=rf"The bot is running .*pid {os.getpid()}"):
        restore_backup(backup, database, alive_within=ALIVE_WITHIN)
    assert sessions_of(database) == before
    assert not leftovers(tmp_path, "*before-restore*")

    async with Database.open(database) as db:
        await ProcessRepository(db).stopped(running)
    restore_backup(backup, database, alive_within=ALIVE_WITHIN)
    assert sessions_of(database) == []


async def test_what_is_not_a_good_backup_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    async with Database.open(database):
        pass
    garbage, empty, newer = tmp_path / "garbage.db", tmp_path / "empty.db", tmp_path / "newer.db"
    garbage.write_bytes(b"not a database at all" * 100)
    sqlite3.connect(empty).close()
    create_backup(database, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 999")
    conn.close()

    with pytest.raises(BackupError, match="not a readable SQLite database"):
        verify(garbage)
    with pytest.raises(BackupError, match="no file at"):
        verify(tmp_path / "missing.db")
    with pytest.raises(BackupError, match="not a database of this bot"):
        restore_backup(empty, database, alive_within=ALIVE_WITHIN)
    with pytest.raises(SchemaTooNewError):
        restore_backup(newer, database, alive_within=ALIVE_WITHIN)
    with pytest.raises(BackupError, match="already exists"):
        create_backup(database, newer)
    with pytest.raises(BackupError, match="no database at"):
        create_backup(tmp_path / "nowhere.db", tmp_path / "x.db")
    assert not leftovers(tmp_path, ".*partial*")


def run_command(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_PATH", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "bot.backup", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_command_backs_up_verifies_and_restores(tmp_path: Path) -> None:
    database = tmp_path / "data" / "bot.db"
    async with Database.open(database) as db:
        log: list[Step] = []
        stop = asyncio.Event()
        stop.set()
        await write_stream(db, log, stop)
    env = {"DATABASE_PATH": str(database)}

    made = run_command("create", "backups/first.db", cwd=tmp_path, env=env)
    again = run_command("create", "backups/first.db", cwd=tmp_path, env=env)
    checked = run_command("verify", "backups/first.db", cwd=tmp_path, env=env)
    restored = run_command("restore", "backups/first.db", cwd=tmp_path, env=env)
    elsewhere = run_command(
        "restore", "backups/first.db", "--database", "copy.db", cwd=tmp_path, env={}
    )
    on_postgres = run_command(
        "create", "x.db", cwd=tmp_path, env={"DATABASE_URL": "postgresql://u:p@db/bot"}
    )

    assert made.returncode == 0, made.stderr
    assert f"Backed up {database} to backups/first.db (schema" in made.stdout
    assert (again.returncode, again.stdout) == (2, "")
    assert "already exists" in again.stderr
    assert checked.returncode == 0, checked.stderr
    assert "Intact: backups/first.db" in checked.stdout
    assert restored.returncode == 0, restored.stderr
    assert "is kept as" in restored.stdout
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert sessions_of(tmp_path / "copy.db") == sessions_of(database)
    assert on_postgres.returncode == 2
    assert "pg_dump" in on_postgres.stderr
