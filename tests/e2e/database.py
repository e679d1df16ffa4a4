"""The running bot's database, whichever engine it is on, as the end-to-end tests reach it.

Each module's bot runs once on an SQLite file in its working directory and once on a fresh
PostgreSQL database (see conftest.py); `use_postgres` records which, so every step that looks
into the bot's books (`rows`, `connect`) or starts another bot process on the same working
directory (`database_settings`) follows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests.support.books import Books, read_rows
from tests.support.books import connect as open_books

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


@contextmanager
def connect(workdir: Path) -> Iterator[Books]:
    """The bot's database, committed at the end (see `tests.support.books`)."""
    with open_books(target(workdir)) as books:
        yield books


def rows(workdir: Path, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    return read_rows(target(workdir), sql, params)


def execute(workdir: Path, sql: str, params: Sequence[Any] = ()) -> None:
    """Change the bot's books under it (a test's shortcut to a state that takes days)."""
    with connect(workdir) as books:
        books.fetch_all(sql, params)


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
