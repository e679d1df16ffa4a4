"""What a unit of work gets: statements on one engine's connection, run on a database thread.

A unit is a plain synchronous function of a `ReadTx` or `WriteTx`. Both engines run it the
same way (one call on a thread that owns a connection), so a repository never awaits between
the statements of a transaction and never knows which engine it is on. `Link` is what an
engine provides underneath: statements, and the few transaction controls the group commit
needs.
"""

from __future__ import annotations

from typing import Protocol

from bot.storage.rows import Row
from bot.storage.sql import Engine, Params, Statement, text_for

__all__ = ["Link", "Params", "ReadTx", "Row", "WriteTx"]


class Link(Protocol):
    """One engine's connection, as units of work and the group commit use it."""

    engine: Engine

    def fetch_all(self, sql: str, params: Params) -> list[Row]: ...

    def execute(self, sql: str, params: Params) -> int: ...

    def lock(self, key: int) -> None: ...

    def notify(self, channel: str) -> None: ...

    def begin_write(self) -> None: ...

    def savepoint(self) -> None: ...

    def rollback_to_savepoint(self) -> None: ...

    def release_savepoint(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class ReadTx:
    """A read unit's statements, inside one read transaction (one snapshot of the database).

    Only usable within the body it was handed to, on the database thread.
    """

    __slots__ = ("_link",)

    def __init__(self, link: Link) -> None:
        self._link = link

    @property
    def engine(self) -> Engine:
        """Which engine runs this transaction (for the rare statement that must know)."""
        return self._link.engine

    def fetch_all(self, sql: Statement, params: Params = ()) -> list[Row]:
        # Every row is read, which a RETURNING write needs before COMMIT.
        return self._link.fetch_all(text_for(sql, self._link.engine), params)

    def fetch_one(self, sql: Statement, params: Params = ()) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None


class WriteTx(ReadTx):
    """A write unit's statements, inside a write transaction shared by its batch."""

    __slots__ = ()

    def execute(self, sql: Statement, params: Params = ()) -> int:
        """Run a statement and return how many rows it changed."""
        return self._link.execute(text_for(sql, self._link.engine), params)

    def lock(self, key: int) -> None:
        """Hold the lock `key` (see `bot.storage.locks`) until this transaction ends.

        On PostgreSQL a transaction-scoped advisory lock: writers of any process that take
        the same key run one after another. On SQLite nothing to do: `BEGIN IMMEDIATE`
        already lets one writer at a time through, whatever the process.
        """
        self._link.lock(key)

    def notify(self, channel: str) -> None:
        """Wake the processes listening on `channel` (`bot.storage.wakeups`) once this
        transaction commits; nothing if it rolls back. PostgreSQL's NOTIFY; nothing on SQLite,
        where one process has the file and wakes its own loops directly."""
        self._link.notify(channel)
