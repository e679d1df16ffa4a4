"""Every query on a hot path, registered where it is written, with the indexes it may read.

A hot path runs once per member action or every few seconds (a start, `/quota show`, the
tracker's sweep, a join page, autocomplete, a budget alert) or serves a report that must read
O(days). Such a query must cost the same with a thousand or a million sessions of history: it
reads live rows, an index made for it, or a bounded summary. Writing it as
`hot(name, sql, reads=...)` puts it in `HOT_QUERIES`, and `tests/storage/test_plans.py` runs
`EXPLAIN QUERY PLAN` on each one against a database with history (with and without the
planner's statistics) and fails on a table scan, an index the query did not declare, or a search
without the bound the declaration asks for. A test also traces every statement the hot services
run and fails on any that is not registered here, so a new query cannot be forgotten.

Parameters are named (`:guild`, `:member`, `:start`...) so the test can bind any query. A query
written per engine (`bot.storage.sql.engine_sql`) is registered the same way and checked on
each engine with its own text. Access paths are named as on SQLite (`<table>.pk`, SQLite's
index names); the PostgreSQL half of the test maps its indexes to those names by their columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from bot.storage.sql import Engine, Statement, text_for

S = TypeVar("S", bound=Statement)

PRIMARY_KEY = ".pk"
"""Suffix naming a table's primary key (rowid or WITHOUT ROWID) as an access path."""


@dataclass(frozen=True, slots=True)
class HotQuery:
    name: str
    sql: Statement
    reads: Mapping[str, str | None]
    """Access paths it may use: an index name or `<table>.pk`, each with the text its search
    must constrain (e.g. `day_start>`: a range, not the whole of a server's history), or None
    when an equality on the key is bound enough (a partial index over live rows, a unique key)."""

    def text(self, engine: Engine) -> str:
        return text_for(self.sql, engine)


HOT_QUERIES: dict[str, HotQuery] = {}


def hot(name: str, sql: S, *, reads: Mapping[str, str | None]) -> S:
    """Register `sql` as the hot query `name` and return it unchanged."""
    if name in HOT_QUERIES:
        raise ValueError(f"hot query {name!r} is registered twice")
    HOT_QUERIES[name] = HotQuery(name, sql, dict(reads))
    return sql
