"""Hot queries on PostgreSQL read only what they declare, as test_plans.py checks on SQLite.

The same history (20,000 ended sessions, copied from the SQLite build so both engines hold
the same rows) is loaded into PostgreSQL and ANALYZEd. PostgreSQL's planner picks a
sequential scan of a small table whenever it is cheaper, so the rule that fits it is: with
`enable_seqscan` off, every hot query (and every statement of the trigger that rolls a
session up) must find a plan that reads only the indexes it declares, within the bound it
declares, and no table without an index. Access paths are named as on SQLite: PostgreSQL's
primary keys are `<table>.pk`, its unique keys take SQLite's `sqlite_autoindex_*` names
(matched by table and columns), named indexes have the same name on both.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from bot.runway.sandbox import Sandbox
from bot.services.container import Services
from bot.settings import Dialect
from bot.storage.hot import HOT_QUERIES, PRIMARY_KEY, HotQuery
from bot.storage.sql import Engine, to_pyformat
from tests.runway.conftest import production_sandbox
from tests.services.conftest import open_world
from tests.storage.test_plans import (
    LIVE_TABLES,
    Built,
    built,
    exercise_hot_services,
    sample_params,
    stray_statements,
)
from tests.support.history import copy_to_postgres
from tests.support.postgres import PostgresServer

__all__ = ["built", "production_sandbox"]


@pytest.fixture(scope="module")
def history_url(built: Built, postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.fresh_database()
    copy_to_postgres(built.path, url)
    yield url
    postgres_server.drop(url)


@pytest.fixture(scope="module")
def planner(history_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(history_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        yield conn


FINAL_STATES = ("SETTLED", "RELEASED", "ADOPTED", "REMOVED", "FAILED", "UNRESOLVED")


@pytest.fixture(scope="module")
def live_indexes(planner: psycopg.Connection[Any]) -> frozenset[str]:
    """Partial indexes over rows in flight only (`state IN` states none of which is final):
    walking one whole is bounded by what is live, not by history."""
    found = set()
    for name, condition in planner.execute(
        "SELECT i.relname, pg_get_expr(x.indpred, x.indrelid) FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indpred IS NOT NULL"
    ):
        positive = "= ANY" in condition and "<>" not in condition and "NOT" not in condition
        if positive and "state" in condition and not any(s in condition for s in FINAL_STATES):
            found.add(name)
    return frozenset(found)


@pytest.fixture(scope="module")
def access_paths(built: Built, planner: psycopg.Connection[Any]) -> dict[str, str]:
    """PostgreSQL's index names, as SQLite names the same access paths."""
    sqlite_names: dict[tuple[str, tuple[str, ...]], str] = {}
    conn = sqlite3.connect(built.path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for _, name, *_ in conn.execute(f"PRAGMA index_list({table})").fetchall():
                columns = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
                sqlite_names[table, columns] = name
    finally:
        conn.close()
    names = {}
    for index, table, primary, columns in planner.execute(
        "SELECT i.relname, t.relname, x.indisprimary,"
        " array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)"
        "  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = 'public'"
    ):
        if primary:
            names[index] = table + PRIMARY_KEY
        else:
            names[index] = sqlite_names.get((table, tuple(columns)), index)
    return names


def typed(params: dict[str, object]) -> dict[str, object]:
    """The sample values as literals of no type, which PostgreSQL reads as each parameter's
    column wants (a number, a flag, a name), as it would the bot's own values."""
    return {
        name: value if isinstance(value, bytes) else str(value) for name, value in params.items()
    }


def plan(
    conn: psycopg.Connection[Any], sql: str, params: dict[str, object]
) -> list[dict[str, Any]]:
    """Every node of the plan (and of its subplans and CTEs), flattened."""
    [(found,)] = conn.execute(
        ("EXPLAIN (FORMAT JSON) " + to_pyformat(sql)).encode(), params
    ).fetchall()
    document = found if isinstance(found, list) else json.loads(found)
    nodes: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node)
        for child in node.get("Plans", ()):
            walk(child)

    walk(document[0]["Plan"])
    return nodes


def problems(
    query: HotQuery,
    nodes: list[dict[str, Any]],
    paths: dict[str, str],
    live_indexes: frozenset[str] = frozenset(),
) -> list[str]:
    found = []
    for node in nodes:
        kind = node["Node Type"]
        table = node.get("Relation Name")
        if table in LIVE_TABLES:
            continue  # a table of live rows only costs what is live (see test_plans.py)
        if kind == "Seq Scan":
            found.append(f"{query.name}: a scan of the whole of {table}")
            continue
        if "Index Name" not in node:
            continue
        path = paths.get(node["Index Name"], node["Index Name"])
        condition = node.get("Index Cond", "")
        if path not in query.reads:
            found.append(f"{query.name}: reads {path} (it declared only {sorted(query.reads)})")
        elif not condition and node["Index Name"] not in live_indexes:
            found.append(f"{query.name}: walks the whole of {path}")
        elif (bound := query.reads[path]) is not None:
            column, direction = bound[:-1], bound[-1]
            if not re.search(rf"\b{column} {direction}", condition):
                found.append(f"{query.name}: {path} unbounded ({condition}); must bound {bound}")
    return found


def test_every_hot_query_reads_only_what_it_declares_on_postgres(
    planner: psycopg.Connection[Any],
    built: Built,
    access_paths: dict[str, str],
    live_indexes: frozenset[str],
) -> None:
    found = []
    for query in HOT_QUERIES.values():
        sql = query.text(Engine.POSTGRES)
        nodes = plan(planner, sql, typed(sample_params(built.history, sql)))
        found += problems(query, nodes, access_paths, live_indexes)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("trigger", "table", "statements"),
    [("sessions_roll_up", "sessions", 6), ("videos_roll_up", "videos", 2)],
)
def test_rolling_up_reads_one_row_and_writes_by_key_on_postgres(
    planner: psycopg.Connection[Any],
    access_paths: dict[str, str],
    trigger: str,
    table: str,
    statements: int,
) -> None:
    """The trigger that rolls an ended session (or video) up: each statement reads it by id."""
    [(source,)] = planner.execute(
        "SELECT prosrc FROM pg_proc WHERE proname = %s", (trigger,)
    ).fetchall()
    body = source[: source.rindex("RETURN NULL")]
    found_statements = [part.strip() for part in body.split(";") if "INSERT" in part]
    assert len(found_statements) == statements, "one statement per rollup"
    rolled = HotQuery(f"trigger {trigger}", "", {f"{table}.pk": None, "guild_settings.pk": None})
    found = []
    for statement in found_statements:
        sql = statement.replace("BEGIN", "", 1).replace("NEW.id", ":row_id")
        found += problems(rolled, plan(planner, sql, {"row_id": "1"}), access_paths)
    assert not found, "\n".join(found)


@pytest.fixture
async def traced(
    built: Built, postgres_server: PostgresServer, production_sandbox: Sandbox
) -> AsyncIterator[tuple[Services, list[str]]]:
    url = postgres_server.fresh_database()
    copy_to_postgres(built.path, url)  # its own copy: the planner's connection holds the other
    sent: list[str] = []
    try:
        async for world in open_world(
            production_sandbox, url, Dialect.PRODUCTION, trace=sent.append, max_live_per_guild=100
        ):
            sent.clear()
            yield world.services, sent
    finally:
        postgres_server.drop(url)


async def test_the_hot_services_send_only_registered_queries_on_postgres(
    traced: tuple[Services, list[str]], built: Built
) -> None:
    services, sent = traced
    await exercise_hot_services(services, built.history)
    stray = stray_statements(sent, Engine.POSTGRES)
    assert not stray, "statements on hot paths that bot.storage.hot does not check:\n" + "\n".join(
        sorted(stray)
    )
    assert len(sent) > 30  # transaction control travels untraced on PostgreSQL


@pytest.mark.parametrize(
    ("sql", "reads", "complaint"),
    [
        ("SELECT * FROM sessions WHERE avatar_label = 'Ada'", {}, "scan of the whole"),
        ("SELECT * FROM sessions WHERE id = 5", {"sessions_live": None}, "declared only"),
        (
            "SELECT sum(seconds) FROM rollup_guild_days WHERE guild_id = 10000",
            {"rollup_guild_days.pk": "day_start>"},
            "unbounded",
        ),
    ],
)
def test_the_check_catches_what_walks_history(
    planner: psycopg.Connection[Any],
    access_paths: dict[str, str],
    sql: str,
    reads: dict[str, str | None],
    complaint: str,
) -> None:
    found = problems(HotQuery("bad", sql, reads), plan(planner, sql, {}), access_paths)
    assert any(complaint in line for line in found), found
