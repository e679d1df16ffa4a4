"""The running bot's database, whichever engine it is on, as the end-to-end tests reach it.

Each module's bot runs once on an SQLite file in its working directory and once on a fresh
PostgreSQL database (see conftest.py); `use_postgres` records which, so every step that looks
into the bot's books (`rows`, `connect`) or starts another bot process on the same working
directory (`database_settings`) follows it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bot.storage.sql import to_pyformat
from bot.storage.sqlite.functions import register_functions

_URLS: dict[Path, str] = {}


def use_postgres(workdir: Path, url: str) -> None:
    _URLS[workdir] = url


def target(workdir: Path) -> Path | str:
    """The bot's database: its PostgreSQL URL, or the SQLite file in `workdir`."""
    return _URLS.get(workdir, workdir / "bot.db")


def database_settings(workdir: Path) -> dict[str, str]:
    """The environment that points a bot started in `workdir` at that database."""
    url = _URLS.get(workdir)
    return {} if url is None else {"DATABASE_URL": url}


class Books:
    """Statements on the bot's database, in SQLite's parameter style on both engines."""

    def __init__(self, conn: sqlite3.Connection | psycopg.Connection[Any]) -> None:
        self._conn = conn

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if isinstance(self._conn, sqlite3.Connection):
            cursor = self._conn.execute(sql, params)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        found = self._conn.execute(to_pyformat(sql), params)
        if found.description is None:  # a statement that returns no rows
            return []
        names = [column.name for column in found.description]
        return [dict(zip(names, row, strict=True)) for row in found.fetchall()]


@contextmanager
def connect(workdir: Path) -> Iterator[Books]:
    """The bot's database, committed at the end (SQLite: waits for the bot's writes)."""
    where = target(workdir)
    if isinstance(where, Path):
        conn = sqlite3.connect(where, timeout=10.0)
        register_functions(conn)  # what the rollup triggers call
        try:
            with conn:
                yield Books(conn)
        finally:
            conn.close()
        return
    with psycopg.connect(where) as pg:
        yield Books(pg)


def rows(workdir: Path, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with connect(workdir) as books:
        return books.fetch_all(sql, params)


def everything_stored(workdir: Path) -> bytes:
    """All the bot has written: its SQLite files, or every row of every PostgreSQL table."""
    where = target(workdir)
    if isinstance(where, Path):
        return b"".join(path.read_bytes() for path in sorted(workdir.glob("bot.db*")))
    with psycopg.connect(where) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        return b"".join(
            str(row[0]).encode()
            for table in tables
            for row in conn.execute(f'SELECT row_to_json(t)::text FROM "{table}" t').fetchall()
        )
