"""SQL text for two engines: one statement shared by both, or a named one that differs.

Repositories write their SQL once, in SQLite's parameter style (`?` or `:name`), and both
engines run it: PostgreSQL's driver wants `%s` / `%(name)s`, so `to_pyformat` rewrites each
statement once (cached) with a tokenizer that leaves string literals, quoted names, comments
and `::` casts alone and doubles a literal `%`.

What cannot be written once (SQLite's `json_each` and `json_group_object`, `instr`) is a named
query kept per engine, in `bot/storage/sqlite/queries.sql` and
`bot/storage/postgres/queries.sql`, each under a `-- name: <name>` header. A repository refers
to it as `engine_sql("<name>")`, and the engine running the transaction picks its own text. A
name missing from either file fails at import, so the two files cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from importlib.resources import files
from typing import TypeAlias

from bot.storage.common import SqlValue

Params: TypeAlias = Sequence[SqlValue] | Mapping[str, SqlValue]


class Engine(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True, slots=True)
class EngineSql:
    """One query written once per engine (see the module note)."""

    name: str
    sqlite: str
    postgres: str

    def text(self, engine: Engine) -> str:
        return self.sqlite if engine is Engine.SQLITE else self.postgres


Statement: TypeAlias = str | EngineSql


def text_for(statement: Statement, engine: Engine) -> str:
    return statement if isinstance(statement, str) else statement.text(engine)


def engine_sql(name: str) -> EngineSql:
    """The query `name` as each engine's queries.sql writes it."""
    texts = {engine: _named_queries(engine) for engine in Engine}
    missing = [engine.value for engine, queries in texts.items() if name not in queries]
    if missing:
        raise LookupError(f"query {name!r} is missing from the queries.sql of {missing}")
    return EngineSql(name, texts[Engine.SQLITE][name], texts[Engine.POSTGRES][name])


_HEADER = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


@cache
def _named_queries(engine: Engine) -> dict[str, str]:
    source = (files("bot.storage") / engine.value / "queries.sql").read_text(encoding="utf-8")
    parts = _HEADER.split(source)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{engine.value}/queries.sql names {name!r} twice")
        queries[name] = body.strip().rstrip(";").strip()
    return queries


_TOKENS = re.compile(
    r"""
      (?P<string>'(?:[^']|'')*')                 # a string literal
    | (?P<quoted>"(?:[^"]|"")*")                 # a quoted name
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*.*?\*/)
    | (?P<cast>::)                               # a cast, not a parameter
    | (?P<named>:[A-Za-z_][A-Za-z0-9_]*)
    | (?P<positional>\?)
    | (?P<percent>%)
    """,
    re.VERBOSE | re.DOTALL,
)


@lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """`sql` with `?` as `%s`, `:name` as `%(name)s` and every `%` as `%%` (psycopg's style),
    leaving string literals, quoted names, comments and `::` casts otherwise as they are.

    Mixing both parameter styles in one statement is refused, as sqlite3 refuses it.
    """
    styles: set[str] = set()

    def rewrite(match: re.Match[str]) -> str:
        kind = match.lastgroup
        token = match.group()
        if kind == "named":
            styles.add("named")
            return f"%({token[1:]})s"
        if kind == "positional":
            styles.add("positional")
            return "%s"
        # psycopg reads % everywhere, even inside string literals and comments.
        return token.replace("%", "%%")

    translated = _TOKENS.sub(rewrite, sql)
    if len(styles) > 1:
        raise ValueError("a statement uses either ? or :name parameters, not both")
    return translated
