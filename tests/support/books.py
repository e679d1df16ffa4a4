"""Plain synchronous access to a bot's database on either engine, for tests that look into
the books from outside the bot (an SQLite file or a PostgreSQL URL), in SQLite's parameter
style on both."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bot.storage.sql import to_pyformat
from bot.storage.sqlite.functions import register_functions


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
def connect(where: str | Path) -> Iterator[Books]:
    """The database at `where`, committed at the end (SQLite: waits for the bot's writes)."""
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


def read_rows(where: str | Path, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with connect(where) as books:
        return books.fetch_all(sql, params)
