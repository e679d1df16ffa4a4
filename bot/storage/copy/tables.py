"""Which tables a copy moves, read from the databases themselves, and in which order.

The SQLite file's schema says what there is to copy: every table but SQLite's own
(`sqlite_*`), with its stored columns, ordered so that a table comes after every table its
foreign keys point at (PostgreSQL checks them row by row as they arrive). A table added by a
future migration is copied without a change here; the target must have the same tables and
columns (the migrations guarantee it, `tests/storage/test_schema_parity.py` checks it), or
the copy is refused before anything is written.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

import psycopg

from bot.storage.errors import StorageError

POSTGRES_BOOKKEEPING = frozenset({"schema_version"})
"""PostgreSQL's own record of the schema version; SQLite keeps it in `PRAGMA user_version`."""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]

    @property
    def quoted(self) -> str:
        return quote(self.name)

    @property
    def column_list(self) -> str:
        return ", ".join(quote(column) for column in self.columns)


def quote(identifier: str) -> str:
    """An SQL identifier quoted the same way for both engines."""
    return '"' + identifier.replace('"', '""') + '"'


def source_tables(conn: sqlite3.Connection) -> list[Table]:
    """The SQLite file's tables, parents before children."""
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
    ]
    columns: dict[str, tuple[str, ...]] = {}
    parents: dict[str, set[str]] = {}
    for name in names:
        # table_xinfo's `hidden` is 0 for a stored column (2 and 3: generated ones)
        columns[name] = tuple(
            str(row[1]) for row in conn.execute(f"PRAGMA table_xinfo({quote(name)})") if not row[6]
        )
        parents[name] = {
            str(row[2]) for row in conn.execute(f"PRAGMA foreign_key_list({quote(name)})")
        } - {name}
    try:
        order = list(TopologicalSorter(parents).static_order())
    except CycleError as error:
        raise StorageError(f"the tables' foreign keys form a cycle: {error.args[1]}") from error
    return [Table(name, columns[name]) for name in order if name in columns]


def target_columns(conn: psycopg.Connection[Any]) -> dict[str, frozenset[str]]:
    """PostgreSQL's tables in the connection's schema, with their columns."""
    found: dict[str, set[str]] = {}
    for table, column in conn.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns AS c"
        " JOIN information_schema.tables AS t"
        "   ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        "   AND c.is_generated = 'NEVER'"
    ):
        if table not in POSTGRES_BOOKKEEPING:
            found.setdefault(str(table), set()).add(str(column))
    return {table: frozenset(names) for table, names in found.items()}


def differences(tables: list[Table], target: dict[str, frozenset[str]]) -> list[str]:
    """How the target's tables differ from the source's (empty when they match)."""
    problems: list[str] = []
    source = {table.name: frozenset(table.columns) for table in tables}
    for name in sorted(source.keys() - target.keys()):
        problems.append(f"table {name} is missing from the target")
    for name in sorted(target.keys() - source.keys()):
        problems.append(f"table {name} is in the target only")
    for name in sorted(source.keys() & target.keys()):
        if source[name] != target[name]:
            only_source = ", ".join(sorted(source[name] - target[name])) or "none"
            only_target = ", ".join(sorted(target[name] - source[name])) or "none"
            problems.append(
                f"table {name}'s columns differ (source only: {only_source};"
                f" target only: {only_target})"
            )
    return problems


def identity_columns(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(table, column) of every column PostgreSQL numbers itself (identity or serial)."""
    return [
        (str(table), str(column))
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
            "   AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')"
            " ORDER BY table_name, column_name"
        )
    ]
