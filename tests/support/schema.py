"""What a migrated database holds, described the same way on both engines, so a test can
compare them: tables and their columns (type family, nullability), primary keys, unique keys,
named indexes (table, columns, unique, the columns and literals of a partial index's
condition), views and triggers (by table and name; what they do is tested by running them)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bot.storage.database import is_postgres_url

TYPES = {
    "integer": "integer",
    "bigint": "integer",
    "smallint": "integer",
    "text": "text",
    "blob": "bytes",
    "bytea": "bytes",
}
# Not part of the bot's schema: each engine's own bookkeeping.
BOOKKEEPING = {"schema_version", "sqlite_stat1", "sqlite_stat4", "sqlite_sequence"}


@dataclass(frozen=True)
class Schema:
    columns: dict[str, dict[str, tuple[str, bool]]]  # table -> column -> (type, not null)
    primary_keys: dict[str, tuple[str, ...]]
    unique_keys: set[tuple[str, tuple[str, ...]]]
    indexes: dict[str, tuple[str, tuple[str, ...], bool, frozenset[str]]]
    views: set[str]
    triggers: set[tuple[str, str]]


def describe(target: str | Path) -> Schema:
    if is_postgres_url(str(target)):
        with psycopg.connect(str(target)) as conn:
            return _postgres(conn)
    conn = sqlite3.connect(target)
    try:
        return _sqlite(conn)
    finally:
        conn.close()


def member_columns(schema: Schema, names: tuple[str, ...]) -> set[str]:
    """`table.column` of every column named in `names` or ending in `_by`."""
    return {
        f"{table}.{column}"
        for table, columns in schema.columns.items()
        for column in columns
        if column in names or column.endswith("_by")
    }


def _predicate(where: str | None, columns: set[str]) -> frozenset[str]:
    """A partial index's condition as the columns and literals it names."""
    if not where:
        return frozenset()
    words = re.findall(r"'[^']*'|\b\w+\b", re.sub(r"::\w+", "", where))  # not PostgreSQL's casts
    return frozenset(w for w in words if w.startswith("'") or w in columns or w.upper() == "NULL")


def _sqlite(conn: sqlite3.Connection) -> Schema:
    columns: dict[str, dict[str, tuple[str, bool]]] = {}
    primary_keys: dict[str, tuple[str, ...]] = {}
    unique_keys: set[tuple[str, tuple[str, ...]]] = set()
    indexes: dict[str, tuple[str, tuple[str, ...], bool, frozenset[str]]] = {}
    tables = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if row[0] not in BOOKKEEPING
    ]
    for table in tables:
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        columns[table] = {
            row[1]: (TYPES[row[2].lower()], bool(row[3]) or bool(row[5] and row[2] == "INTEGER"))
            for row in info
        }
        primary_keys[table] = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5])
        for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
            cols = tuple(row[2] for row in conn.execute(f"PRAGMA index_info({name})"))
            if origin == "u":
                unique_keys.add((table, cols))
            elif origin == "c":
                sql = conn.execute(
                    "SELECT sql FROM sqlite_master WHERE name = ?", (name,)
                ).fetchone()[0]
                where = sql.split(" WHERE ", 1)[1] if partial else None
                indexes[name] = (table, cols, bool(unique), _predicate(where, set(columns[table])))
    views = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    triggers = {
        (row[1], row[0])
        for row in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")
    }
    return Schema(columns, primary_keys, unique_keys, indexes, views, triggers)


def _postgres(conn: psycopg.Connection[Any]) -> Schema:
    columns: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, kind, nullable in conn.execute(
        "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable FROM"
        " information_schema.columns c JOIN information_schema.tables t"
        " ON t.table_name = c.table_name AND t.table_schema = c.table_schema"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
    ):
        if table not in BOOKKEEPING:
            columns.setdefault(table, {})[column] = (TYPES[kind], nullable == "NO")
    primary_keys: dict[str, tuple[str, ...]] = {}
    unique_keys: set[tuple[str, tuple[str, ...]]] = set()
    for table, kind, cols in conn.execute(
        "SELECT rel.relname, con.contype, array_agg(att.attname ORDER BY k.ord)"
        " FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid"
        " JOIN pg_namespace ns ON ns.oid = rel.relnamespace"
        " CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute att ON att.attrelid = rel.oid AND att.attnum = k.attnum"
        " WHERE ns.nspname = 'public' AND con.contype IN ('p', 'u')"
        " GROUP BY rel.relname, con.conname, con.contype"
    ):
        if table in BOOKKEEPING:
            continue
        if kind == "p":
            primary_keys[table] = tuple(cols)
        else:
            unique_keys.add((table, tuple(cols)))
    for table in columns:
        primary_keys.setdefault(table, ())
    indexes: dict[str, tuple[str, tuple[str, ...], bool, frozenset[str]]] = {}
    for name, table, unique, cols, where in conn.execute(
        "SELECT i.relname, t.relname, x.indisunique,"
        " array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)"
        "  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord),"
        " pg_get_expr(x.indpred, x.indrelid)"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = 'public' AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
    ):
        indexes[name] = (table, tuple(cols), unique, _predicate(where, set(columns[table])))
    views = {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'"
        )
    }
    triggers = {
        (row[0], row[1])
        for row in conn.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND NOT t.tgisinternal"
        )
    }
    return Schema(columns, primary_keys, unique_keys, indexes, views, triggers)
