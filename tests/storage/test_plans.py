"""Hot queries read only live rows, the index made for them, or a bounded summary, whatever the
planner's statistics say.

One database with real history (20,000 ended sessions over a year in 200 servers, one busy
server with 13 % of them, live calls with join codes, the conversations Runway keeps of the
calls, members waiting in line for a call slot) is planned three ways: with no statistics
(`ANALYZE` on a new, empty schema records none), with stale ones gathered when the database held
a few hundred sessions (what an instance has until `PRAGMA optimize` catches up), and with fresh
ones. Every query registered in `bot.storage.hot`, and every statement of the trigger that rolls
a session up, is run through `EXPLAIN QUERY PLAN`; a scan of a table, an index the query did not
declare, or a search without its declared bound fails. A last test runs the hot services against
the same history and fails on any statement they send that is not registered, so no hot query
escapes the check.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import bot.storage
from bot.runway.sandbox import Sandbox
from bot.services.actors import Actor
from bot.services.container import Services
from bot.services.sessions import PRESET_PREFIX
from bot.services.usage_reports import ReportPeriod
from bot.settings import Dialect
from bot.storage.hot import HOT_QUERIES, PRIMARY_KEY, HotQuery
from bot.storage.rollups import differences
from bot.storage.sql import Engine
from bot.storage.sqlite.engine import SqliteLink
from bot.storage.sqlite.functions import register_functions
from bot.storage.transaction import ReadTx
from tests.runway.conftest import production_sandbox
from tests.services.conftest import open_world
from tests.support.history import History, Shape, build, periods

__all__ = ["production_sandbox"]

SHAPE = Shape(sessions=20_000, guilds=200, members=4_000, waiting=2)
YOUNG = Shape(sessions=300, guilds=5, members=40)
STATISTICS = ("none", "stale", "fresh")
# Partial indexes over live rows only (sessions still running, intents still unresolved, avatar
# videos still on their way): a walk of one costs what is live, never the history.
LIVE_INDEXES = (
    "WHERE state IN ('RESERVED', 'OPEN')",
    "WHERE state IN ('PENDING', 'UNSURE')",
    "WHERE state IN ('RESERVED', 'RENDERING', 'POSTING')",
)
# Tables of live rows only, for the same reason: a place leaves the waiting line once it is
# served, refused or cleared. With fresh statistics SQLite reads a short line whole rather
# than through its index, which costs the line, never the history.
LIVE_TABLES = ("waiting_line", "session_outbox")  # ends not yet announced, deleted once they are

# Everything in the storage package registers its queries on import.
for module in pkgutil.iter_modules(bot.storage.__path__):
    importlib.import_module(f"bot.storage.{module.name}")


@dataclass(frozen=True)
class Built:
    path: Path
    history: History


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The history, with no statistics."""
    path = tmp_path_factory.mktemp("history") / "history.db"
    history = asyncio.run(build(path, SHAPE, analyze=False))
    return Built(path, history)


@pytest.fixture(scope="module")
def stale_statistics(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """What ANALYZE recorded on a young instance: a few hundred sessions in five servers."""
    path = tmp_path_factory.mktemp("young") / "young.db"
    asyncio.run(build(path, YOUNG))
    with sqlite3.connect(path) as conn:
        rows: list[tuple[str, str, str]] = conn.execute("SELECT * FROM sqlite_stat1").fetchall()
    conn.close()
    return rows


@pytest.fixture(scope="module", params=STATISTICS)
def planner(
    request: pytest.FixtureRequest,
    built: Built,
    stale_statistics: list[tuple[str, str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[sqlite3.Connection]:
    path = tmp_path_factory.mktemp("stats") / "history.db"
    shutil.copy(built.path, path)
    with sqlite3.connect(path) as setup:
        setup.execute("DELETE FROM sqlite_stat1")
        if request.param == "stale":
            setup.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", stale_statistics)
        elif request.param == "fresh":
            setup.execute("ANALYZE")
    setup.close()
    conn = sqlite3.connect(path)  # statistics are read when a connection opens
    register_functions(conn)
    yield conn
    conn.close()


def sample_params(history: History, sql: str) -> dict[str, object]:
    """A value for every named parameter: the busy server's member, now, this month."""
    now = periods(history)
    known: dict[str, object] = now | {
        # admission's two periods (today, this month) and the span covering both
        "first_start": now["day_start"],
        "first_end": now["day_end"],
        "second_start": now["month_start"],
        "second_end": now["month_end"],
        "low": now["month_start"],
        "high": now["month_end"],
        "since": now["month_start"] - 31 * 86_400,  # a timezone change moves two months
        "code_hash": history.live_codes[0],
        "avatar": history.avatar_ids[history.busy_guild],
        "session_id": 1,
        "dialect": "production",
        "budget": "day",
        "limit": 10,
    }
    return {name: known.get(name, 1) for name in re.findall(r":(\w+)", sql)}


def plan(conn: sqlite3.Connection, sql: str, params: dict[str, object]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


_ACCESS = re.compile(
    r"^(?P<verb>SCAN|SEARCH) (?P<table>\w+)"
    r"(?: USING (?:(?:COVERING )?INDEX (?P<index>\w+)|(?P<pk>INTEGER PRIMARY KEY|PRIMARY KEY)))?"
    r"(?: \((?P<bound>.*)\))?"
)


# A table named in FROM or JOIN and the alias after it (SQLite's plan names the alias).
_ALIASED = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)\s+(?:AS\s+)?(\w+)", re.IGNORECASE)
_NOT_ALIASES = {
    *("WHERE", "LEFT", "INNER", "CROSS", "JOIN", "ON", "USING", "GROUP", "ORDER", "LIMIT"),
    *("UNION", "SET", "RETURNING"),
}


def aliases(sql: str) -> dict[str, str]:
    """The tables `sql` reads under another name, by that name."""
    return {
        alias: table for table, alias in _ALIASED.findall(sql) if alias.upper() not in _NOT_ALIASES
    }


def problems(conn: sqlite3.Connection, query: HotQuery, lines: list[str]) -> list[str]:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    named = aliases(query.text(Engine.SQLITE))
    live_indexes = {
        row[0]
        for row in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        if row[1] and any(live in row[1] for live in LIVE_INDEXES)
    }
    found = []
    for line in lines:
        access = _ACCESS.match(line)
        table = None if access is None else named.get(access["table"], access["table"])
        if access is None or table not in tables:
            continue  # a constant row, a subquery, a temp B-tree: nothing read from disk
        path = access["index"] or (f"{table}{PRIMARY_KEY}" if access["pk"] else None)
        if path is None and table in LIVE_TABLES and access["verb"] == "SCAN":
            continue
        if "AUTOMATIC" in line or path is None:
            found.append(f"{query.name}: {line} (a scan of the whole table)")
        elif path not in query.reads:
            found.append(f"{query.name}: {line} (it declared only {sorted(query.reads)})")
        elif access["verb"] == "SCAN" and path not in live_indexes:
            found.append(f"{query.name}: {line} (a walk of a whole index)")
        elif (bound := query.reads[path]) is not None and bound not in (access["bound"] or ""):
            found.append(f"{query.name}: {line} (unbounded: it must search {bound!r})")
    return found


def test_every_hot_query_reads_only_what_it_declares(
    planner: sqlite3.Connection, built: Built
) -> None:
    assert len(HOT_QUERIES) >= 35, "the registry lost queries"
    found = []
    for query in HOT_QUERIES.values():
        sql = query.text(Engine.SQLITE)
        lines = plan(planner, sql, sample_params(built.history, sql))
        found += problems(planner, query, lines)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("sql", "reads", "complaint"),
    [
        ("SELECT * FROM sessions AS s WHERE s.avatar_label = 'Ada'", {}, "scan of the whole"),
        (
            "SELECT s.* FROM avatars a JOIN sessions s ON s.avatar_label = a.name WHERE a.id = 1",
            {"avatars.pk": None},
            "scan of the whole",
        ),
        ("SELECT * FROM sessions WHERE id = 5", {"sessions_live": None}, "declared only"),
    ],
)
def test_the_check_catches_what_walks_history(
    planner: sqlite3.Connection, sql: str, reads: dict[str, str | None], complaint: str
) -> None:
    """Under an alias too: SQLite's plan names a table by its alias."""
    found = problems(planner, HotQuery("bad", sql, reads), plan(planner, sql, {}))
    assert any(complaint in line for line in found), found


def test_rolling_a_session_up_reads_one_session_and_writes_by_key(
    planner: sqlite3.Connection, built: Built
) -> None:
    """The trigger that ends a session: each statement reads the session by its id."""
    (sql,) = planner.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'sessions_roll_up'"
    ).fetchone()
    body = sql[sql.index("BEGIN") + len("BEGIN") : sql.rindex("END")]
    statements = [part.strip() for part in body.split(";") if part.strip()]
    assert len(statements) == 6, "one statement per rollup"
    rolled = HotQuery(
        "trigger sessions_roll_up",
        "",
        {"sessions.pk": None, "guild_settings.pk": None},
    )
    found = []
    for statement in statements:
        bound = statement.replace("NEW.id", ":session_id")
        found += problems(planner, rolled, plan(planner, bound, {"session_id": 1}))
    assert not found, "\n".join(found)


def test_the_history_built_for_benchmarks_has_the_rollups_its_sessions_define(
    built: Built,
) -> None:
    conn = sqlite3.connect(built.path)
    register_functions(conn)
    try:
        conn.row_factory = sqlite3.Row
        assert differences(ReadTx(SqliteLink(conn))) == {}
    finally:
        conn.close()


# Every statement the hot services send is a registered hot query, or one of these.
HOUSEKEEPING = re.compile(
    r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b|^INSERT INTO sessions \("
    r"|^SELECT pg_advisory_xact_lock\(\?\)$",  # a batch's lock (bot.storage.locks)
    re.I,
)


@pytest.fixture
async def traced(
    built: Built, tmp_path: Path, production_sandbox: Sandbox
) -> AsyncIterator[tuple[Services, list[str]]]:
    path = tmp_path / "history.db"
    shutil.copy(built.path, path)
    sent: list[str] = []
    async for world in open_world(
        production_sandbox, path, Dialect.PRODUCTION, trace=sent.append, max_live_per_guild=100
    ):
        sent.clear()  # what building the services read (the voice catalogue) is not hot
        yield world.services, sent


async def test_the_hot_services_send_only_registered_queries(
    traced: tuple[Services, list[str]], built: Built
) -> None:
    services, sent = traced
    await exercise_hot_services(services, built.history)
    stray = stray_statements(sent, Engine.SQLITE)
    assert not stray, "statements on hot paths that bot.storage.hot does not check:\n" + "\n".join(
        sorted(stray)
    )
    assert len(sent) > 50


async def exercise_hot_services(services: Services, history: History) -> None:
    """Every hot path once: a start, the join page, quotas, autocomplete, the tracker, alerts,
    reports and an export, in the busy server."""
    guild = history.busy_guild
    admin = Actor(user_id=history.busy_members[-1], manages_guild=True)
    member = Actor(user_id=history.busy_members[-2], role_ids=frozenset({77}))
    # The line first: while members wait in it, a start yields to them.
    await services.line.waits(guild, member.user_id)
    await services.line.places()
    assert await services.line.serve() == 3 * history.shape.waiting, "the whole line is served"
    started = await services.sessions.start(
        guild, member, await services.sessions.target(guild, PRESET_PREFIX + "cooking-teacher")
    )
    code = started.join_url.rsplit("/", 1)[1]
    await services.sessions.view(code)
    await services.sessions.redeem(code)
    await services.quotas.allowance(guild, member)
    await services.avatars.search(guild, "a", usable_only=True)
    await services.avatars.resolve(guild, str(history.avatar_ids[guild]))
    await services.avatars.resolve(guild, "ada")
    await services.sessions.live(guild, member)
    await services.tracker.sweep()
    await services.alerts.check(guild)
    await services.quotas.set_alert_channel(guild, admin, 42)
    await services.alerts.check(guild)
    await services.usage.report(guild, admin, ReportPeriod.THIS_MONTH)
    await services.usage.report(guild, member, ReportPeriod.LAST_7_DAYS)
    await services.usage.export_csv(guild, admin, ReportPeriod.TODAY)
    await services.conversations.history(guild, member)
    await services.conversations.failing(guild)


def stray_statements(sent: list[str], engine: Engine) -> set[str]:
    """What was sent that is neither a registered hot query nor housekeeping."""
    registered = {_normal(query.text(engine)) for query in HOT_QUERIES.values()}
    stray = {
        _normal(sql)
        for sql in sent
        if _normal(sql) not in registered and not HOUSEKEEPING.match(_normal(sql))
    }
    # Changing settings is no hot path: those statements are allowed beside the hot ones.
    return {sql for sql in stray if "INTO guild_settings" not in sql}


def _normal(sql: str) -> str:
    return " ".join(sql.split())
