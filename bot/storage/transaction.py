"""What a unit of work gets: statements on the raw connection, run on its database thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from bot.storage.common import SqlValue

Params: TypeAlias = Sequence[SqlValue] | Mapping[str, SqlValue]
Row: TypeAlias = sqlite3.Row


class ReadTx:
    """A read unit's statements, inside one read transaction (one snapshot of the database).

    Only usable within the body it was handed to, on the database thread.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        # fetchall steps the statement to its end, which a RETURNING write needs before COMMIT.
        rows: list[Row] = self._conn.execute(sql, params).fetchall()
        return rows

    def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None


class WriteTx(ReadTx):
    """A write unit's statements, inside its savepoint of a `BEGIN IMMEDIATE` transaction."""

    __slots__ = ()

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement and return how many rows it changed."""
        return self._conn.execute(sql, params).rowcount
