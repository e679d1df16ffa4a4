"""The database engine a benchmark runs on, chosen with `--engine` (sqlite or postgres).

On PostgreSQL the benchmark starts its own throwaway server (as the tests do, but with fsync
and synchronous commits on, as a deployment runs it), loads the same history as on SQLite
(built as an SQLite file, then copied, so both engines hold exactly the same rows) into a
template database, and hands each run a fresh copy of it.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bot.storage import Database
from bot.storage.sql import to_pyformat
from tests.support.history import History, Shape, build, copy_to_postgres
from tests.support.postgres import PostgresServer

ENGINES = ("sqlite", "postgres")


@dataclass
class Bench:
    """Where a benchmark's databases live: a folder, and on PostgreSQL a server."""

    engine: str
    folder: Path
    server: PostgresServer | None = None
    _made: list[str | Path] = field(default_factory=list)

    @classmethod
    def start(cls, engine: str, folder: Path) -> Bench:
        server = PostgresServer.start(durable=True) if engine == "postgres" else None
        return cls(engine, folder, server)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    async def history(self, name: str, shape: Shape) -> tuple[str | Path, History]:
        """A database holding `shape`'s history, ANALYZEd: a template to copy."""
        path = self.folder / f"{name}.db"
        history = await build(path, shape)
        if self.server is None:
            return path, history
        url = self.server.fresh_database()
        copy_to_postgres(path, url)
        path.unlink()
        return url, history

    async def empty(self, name: str) -> str | Path:
        """A migrated database without history."""
        server = self.server
        target = self.folder / f"{name}.db" if server is None else server.fresh_database()
        async with Database.open(target):
            pass
        return target

    def copy(self, template: str | Path, name: str) -> str | Path:
        if self.server is None:
            assert isinstance(template, Path)
            path = self.folder / f"{name}.db"
            shutil.copy(template, path)
            return path
        url = self.server.url(name)
        source = str(template).rsplit("/", 1)[1]
        self.server.admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        return url

    def drop(self, target: str | Path) -> None:
        if isinstance(target, Path):
            for path in target.parent.glob(target.name + "*"):
                path.unlink()
        elif self.server is not None:
            self.server.drop(target)

    def size_mb(self, target: str | Path) -> float:
        if isinstance(target, Path):
            return target.stat().st_size / 1e6
        with psycopg.connect(str(target)) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return 0.0 if row is None else int(row[0]) / 1e6


def execute_many(target: str | Path, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run one statement (SQLite's parameter style) for every row, in one transaction."""
    if isinstance(target, Path):
        conn = sqlite3.connect(target)
        with conn:
            conn.executemany(sql, rows)
        conn.close()
        return
    with psycopg.connect(target) as pg, pg.cursor() as cursor:
        cursor.executemany(to_pyformat(sql), rows)
