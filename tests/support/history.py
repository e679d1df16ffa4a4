"""A database with real history, built fast: what the query-plan test and bench/growth.py use.

Shaped like a public instance after a year: `guilds` servers and `members` members, settled
sessions spread over `months` months, one busy server holding `busy_share` of them (and the
same share of the members), servers in several timezones, a few calls live right now (with
join codes), four avatars per server, every limit set in the busy one, the conversations
Runway keeps of the calls, and (when asked) members waiting in line for a call slot.

Built for speed, as a bulk load is: one transaction, the sessions' indexes and triggers set
aside while the rows go in (then rebuilt, each in one sorted pass), and the rollups summed in
Python as the sessions are generated, with the calendar functions the database itself uses.
The query-plan test checks that the rollups so built equal their views over the sessions
(`bot.storage.rollups.differences`), so the shortcut cannot drift from the definitions.
"""

from __future__ import annotations

import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bot.storage import Database
from bot.storage.local_days import (
    PeriodCache,
    day_period,
    month_period,
    zone_or_utc,
)
from bot.storage.sqlite.functions import register_functions

DAY = 86_400
TIMEZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Los_Angeles",
)
AVATARS = ("Ada", "Bob", "Cleo", "Dmitri")
PRESET = "Cooking Teacher (Runway preset)"
SETTLED_REASONS = ("member_ended",) * 10 + ("completed",) * 5 + ("time_limit",) * 4 + ("failed",)
RELEASED_REASONS = ("start_failed", "never_ready", "cancelled")
FIRST_GUILD = 10_000


@dataclass(frozen=True)
class Shape:
    sessions: int
    guilds: int = 1_000
    members: int = 20_000
    months: int = 12
    busy_share: float = 0.13
    now: int = 1_735_000_000  # 2024-12-24: the history ends an hour before this
    waiting: int = 0  # members in line for a call slot in each of three servers
    seed: int = 9


@dataclass
class History:
    """What a test or a benchmark needs to know about the database it got."""

    shape: Shape
    busy_guild: int
    quiet_guild: int
    busy_members: list[int]
    timezones: dict[int, str]
    live_codes: list[bytes] = field(default_factory=list)  # join codes of open sessions
    avatar_ids: dict[int, int] = field(default_factory=dict)  # one avatar per guild

    @property
    def busy_member(self) -> int:
        return self.busy_members[0]


async def build(path: Path, shape: Shape, *, analyze: bool = True) -> History:
    """Create the database at `path` (migrated, as the bot would) and fill it."""
    async with Database.open(path):
        pass
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        register_functions(conn)
        return fill(conn, shape, analyze=analyze)
    finally:
        conn.close()


def fill(conn: sqlite3.Connection, shape: Shape, *, analyze: bool) -> History:
    rng = random.Random(shape.seed)
    guilds = list(range(FIRST_GUILD, FIRST_GUILD + shape.guilds))
    busy, quiet = guilds[0], guilds[-1]
    busy_count = max(1, int(shape.members * shape.busy_share))
    members = _members(guilds, shape.members, busy_count)
    history = History(
        shape=shape,
        busy_guild=busy,
        quiet_guild=quiet,
        busy_members=members[busy],
        timezones={guild: TIMEZONES[n % len(TIMEZONES)] for n, guild in enumerate(guilds)},
    )
    history.timezones[busy] = "Europe/Paris"
    # A bulk load: no journal, a large cache; the database is back in WAL mode afterwards.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -500000")
    conn.execute("BEGIN")
    set_aside = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
        " AND (tbl_name IN ('sessions', 'runway_intents', 'videos') OR tbl_name LIKE 'rollup%')"
        " AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _ in set_aside:
        conn.execute(f"DROP {kind.upper()} {name}")
    conn.executemany(
        "INSERT INTO guild_settings (guild_id, timezone, updated_at) VALUES (?, ?, ?)",
        [(guild, tz, shape.now) for guild, tz in history.timezones.items()],
    )
    history.avatar_ids = _avatars(conn, guilds, shape.now)
    _busy_limits(conn, busy, shape.now)
    rollups = _Rollups(history.timezones)
    conn.executemany(_INSERT_ENDED, rollups.adding(_ended_sessions(rng, shape, guilds, members)))
    for table, rows in rollups.rows():
        marks = ", ".join("?" * len(next(iter(rows))))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    conn.execute(_PROCESS, (shape.now,) * 3)
    conn.execute(_INTENTS)
    conn.execute(_VIDEOS)
    conn.execute(_AUDIT)
    for sql in _VIDEO_ROLLUPS:
        conn.execute(sql)
    for _, _, sql in set_aside:
        conn.execute(sql)
    history.live_codes = _live_sessions(conn, rng, shape, guilds, members)
    conn.execute(_CONVERSATIONS, (shape.now + 3600,))
    if shape.waiting:
        _waiting_line(conn, shape, guilds, members)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    if analyze:
        conn.execute("ANALYZE")
    return history


class _Rollups:
    """The rollups of the ended sessions, summed as they are generated (see the module note).
    Written out table by table: at a million rows, every dictionary operation counts."""

    def __init__(self, timezones: dict[int, str]) -> None:
        self._timezones = timezones
        self._day_start = PeriodCache(day_period)
        self._month_start = PeriodCache(month_period)
        self._tables: dict[str, defaultdict[tuple[object, ...], list[int]]] = {
            "rollup_guild_days": defaultdict(lambda: [0, 0]),
            "rollup_avatar_days": defaultdict(lambda: [0, 0]),
            "rollup_member_months": defaultdict(lambda: [0, 0]),
            "rollup_end_days": defaultdict(lambda: [0, 0]),
            "rollup_member_days": defaultdict(lambda: [0, 0, 0]),
            "rollup_account_hours": defaultdict(lambda: [0, 0]),
        }

    def adding(self, sessions: Iterator[_Ended]) -> Iterator[_Ended]:
        tables = self._tables
        guild_days, avatar_days = tables["rollup_guild_days"], tables["rollup_avatar_days"]
        member_months, end_days = tables["rollup_member_months"], tables["rollup_end_days"]
        member_days, hours = tables["rollup_member_days"], tables["rollup_account_hours"]
        for row in sessions:
            guild, member, label, _, _, state, used, reason, joined, created, _ = row
            tz = self._timezones[guild]
            day = self._day_start(tz, created)
            seconds = used or 0
            if state == "SETTLED":
                for sums in (
                    guild_days[guild, day],
                    avatar_days[guild, day, label],
                    member_months[guild, self._month_start(tz, created), member],
                ):
                    sums[0] += 1
                    sums[1] += seconds
                member_days[guild, member, day, label, reason][0] += 1
            else:
                member_days[guild, member, day, label, reason][1] += 1
            member_days[guild, member, day, label, reason][2] += seconds
            ended = end_days[guild, day, reason]
            ended[0] += 1
            ended[1] += seconds
            if state == "SETTLED" or joined is not None:
                hour = hours["production", created - created % 3600]
                hour[0] += joined is not None
                hour[1] += seconds
            yield row

    def rows(self) -> Iterator[tuple[str, list[tuple[object, ...]]]]:
        for table, sums in self._tables.items():
            if sums:
                yield table, sorted((*key, *values) for key, values in sums.items())


def _members(guilds: list[int], total: int, busy_count: int) -> dict[int, list[int]]:
    """The busy server gets `busy_count` members, the others share the rest evenly."""
    members = {guilds[0]: list(range(1, busy_count + 1))}
    per_guild = max(1, (total - busy_count) // max(1, len(guilds) - 1))
    next_id = busy_count + 1
    for guild in guilds[1:]:
        members[guild] = list(range(next_id, next_id + per_guild))
        next_id += per_guild
    return members


def _avatars(conn: sqlite3.Connection, guilds: list[int], now: int) -> dict[int, int]:
    first: dict[int, int] = {}
    for guild in guilds:
        for name in AVATARS:
            (avatar_id,) = conn.execute(
                "INSERT INTO avatars (guild_id, runway_id, name, name_key, personality,"
                " voice_preset, status, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'A patient tutor.', 'clara', 'READY', 1, ?, ?) RETURNING id",
                (guild, f"av-{guild}-{name}", name, name.lower(), now, now),
            ).fetchone()
            first.setdefault(guild, avatar_id)
    return first


def _busy_limits(conn: sqlite3.Connection, guild: int, now: int) -> None:
    limits = {
        "guild_day_seconds": 40 * 3600,
        "guild_month_seconds": 1000 * 3600,
        "member_day_seconds": 3600,
        "guild_live": 50,
        "member_live": 1,
        "cooldown_seconds": 60,
        "session_seconds": 300,
    }
    conn.executemany(
        "INSERT INTO guild_quotas (guild_id, name, value, updated_by, updated_at)"
        " VALUES (?, ?, ?, 1, ?)",
        [(guild, name, value, now) for name, value in limits.items()],
    )
    conn.execute(
        "INSERT INTO quota_role_tiers (guild_id, role_id, member_day_seconds, updated_by,"
        " updated_at) VALUES (?, 77, 7200, 1, ?)",
        (guild, now),
    )


# Every call was preceded by its intent (bot.storage.intents), resolved long ago: adopted if
# Runway made the session, failed otherwise. One process, stopped, owned them all.
_PROCESS = """
INSERT INTO processes (id, host, pid, started_at, heartbeat_at, stopped_at)
VALUES (1, 'history', 1, ?, ?, ?)
"""
_INTENTS = """
INSERT INTO runway_intents (kind, guild_id, member_id, owner, state, name, fingerprint, target,
                            record_id, detail, runway_id, created_at, decide_after, attempts,
                            resolved_at, outcome)
SELECT 'session', guild_id, member_id, 1,
       CASE WHEN runway_id IS NULL THEN 'FAILED' ELSE 'ADOPTED' END, avatar_label, x'00',
       coalesce(preset_id, avatar_label), id, '{}', runway_id, created_at - 2, created_at + 60,
       0, created_at, 'history'
FROM sessions ORDER BY id
"""

# A video message (/avatar say) for every tenth call, ended as the call did, and its rollups
# summed from their views (as migration 0006 fills them).
_VIDEOS = """
INSERT INTO videos (guild_id, channel_id, member_id, avatar_label, speech, text, state,
                    estimate_seconds, used_seconds, cost_credits, runway_id, upload_limit,
                    end_reason, owner, created_at, counted_at, submitted_at, ended_at)
SELECT guild_id, 1, member_id, avatar_label, 'text', 'Hello there', state, 20,
       CASE WHEN state = 'SETTLED' THEN 12 END, CASE WHEN state = 'SETTLED' THEN 6 END,
       'task-' || id, 8388608, CASE WHEN state = 'SETTLED' THEN 'posted' ELSE 'failed' END, 1,
       created_at, created_at, created_at + 1, created_at + 90
FROM sessions WHERE id % 10 = 0 ORDER BY id
"""
# An audit log entry (an avatar changed) for every tenth call, at its start: what retention
# deletes from the oldest.
_AUDIT = """
INSERT INTO audit_log (guild_id, actor_id, action, subject, detail, created_at)
SELECT guild_id, member_id, 'avatar.edit', avatar_label, '{}', created_at
FROM sessions WHERE id % 10 = 5 ORDER BY id
"""
_VIDEO_ROLLUPS = (
    "INSERT INTO rollup_video_days SELECT guild_id, day_start, sum(videos), sum(seconds)"
    " FROM rollup_video_days_rows GROUP BY guild_id, day_start",
    "INSERT INTO rollup_video_member_days SELECT guild_id, member_id, day_start, sum(videos),"
    " sum(released), sum(seconds) FROM rollup_video_member_days_rows"
    " GROUP BY guild_id, member_id, day_start",
)

_INSERT_ENDED = """
INSERT INTO sessions (guild_id, member_id, avatar_label, preset_id, runway_id, dialect, state,
                      max_seconds, used_seconds, end_reason, consumed_at, created_at, ended_at)
VALUES (?, ?, ?, ?, ?, 'production', ?, 300, ?, ?, ?, ?, ?)
"""


_Ended = tuple[int, int, str, str | None, str | None, str, int | None, str, int | None, int, int]
"""An ended session as inserted: guild, member, avatar, preset, Runway id, state, seconds used,
end reason, joined at, started at, ended at."""


def _ended_sessions(
    rng: random.Random, shape: Shape, guilds: list[int], members: dict[int, list[int]]
) -> Iterator[_Ended]:
    """The year's sessions in the order they started; each column drawn in one call."""
    count = shape.sessions
    span = shape.months * 30 * DAY - 3600
    first = shape.now - 3600 - span
    starts = sorted(first + int(span * r) for r in _randoms(rng, count))
    others = guilds[1:] or guilds
    weights = [shape.busy_share] + [(1 - shape.busy_share) / len(others)] * len(others)
    picked = rng.choices([guilds[0], *others], weights=weights, k=count)
    who = _randoms(rng, count)
    labels = rng.choices((*AVATARS, PRESET), k=count)
    settles = _randoms(rng, count)
    used = rng.choices(range(301), k=count)
    settled_reasons = rng.choices(SETTLED_REASONS, k=count)
    released_reasons = rng.choices(RELEASED_REASONS, k=count)
    for n, created in enumerate(starts):
        guild, label = picked[n], labels[n]
        crowd = members[guild]
        member = crowd[int(who[n] * len(crowd))]
        preset = "cooking-teacher" if label == PRESET else None
        if settles[n] < 0.9:
            joined = created + 15
            yield (
                guild, member, label, preset, f"rw-{n}", "SETTLED", used[n],
                settled_reasons[n], joined, created, joined + used[n],
            )  # fmt: skip
        else:
            yield (
                guild, member, label, preset, None, "RELEASED", None,
                released_reasons[n], None, created, created + 5,
            )  # fmt: skip


def _randoms(rng: random.Random, count: int) -> list[float]:
    return [rng.random() for _ in range(count)]


def _live_sessions(
    conn: sqlite3.Connection,
    rng: random.Random,
    shape: Shape,
    guilds: list[int],
    members: dict[int, list[int]],
) -> list[bytes]:
    """Calls running now: three in the busy server, one in every fiftieth other server."""
    codes = []
    live_guilds = [guilds[0]] * 3 + guilds[1::50]
    for n, guild in enumerate(live_guilds):
        code = rng.randbytes(32)
        conn.execute(
            "INSERT INTO sessions (guild_id, member_id, avatar_label, runway_id, dialect, state,"
            " max_seconds, join_code_hash, code_expires_at, created_at)"
            " VALUES (?, ?, 'Ada', ?, 'production', 'OPEN', 300, ?, ?, ?)",
            (guild, members[guild][n % len(members[guild])], f"live-{n}", code,
             shape.now + 180, shape.now - 60),
        )  # fmt: skip
        codes.append(code)
    return codes


# Every call Runway made is a conversation the bot keeps until it deletes it there (the trigger
# that records them was set aside with the others): one in 997 of a member who asked to be
# forgotten (due at once), one in 251 whose deletion Runway refused (retried in an hour).
_CONVERSATIONS = """
INSERT INTO conversations (runway_id, guild_id, member_id, started_at, forgotten, attempts,
                           retry_at, last_error)
SELECT runway_id, guild_id, CASE WHEN id % 997 = 0 THEN 0 ELSE member_id END, created_at,
       id % 997 = 0, CASE WHEN id % 251 = 0 THEN 2 ELSE 0 END,
       CASE WHEN id % 251 = 0 THEN ? ELSE 0 END,
       CASE WHEN id % 251 = 0 THEN 'Runway answered 503' END
FROM sessions WHERE runway_id IS NOT NULL AND dialect = 'production' ORDER BY id
"""


def _waiting_line(
    conn: sqlite3.Connection, shape: Shape, guilds: list[int], members: dict[int, list[int]]
) -> None:
    """The account's slots all taken a moment ago: `shape.waiting` members of each of three
    servers wait for a preset's call (not the busy server's last two, whom the tests act as),
    the busy server's first live call was given from the line, and every server has had its
    turn."""
    (offered,) = conn.execute(
        "SELECT id FROM sessions WHERE guild_id = ? AND state = 'OPEN' ORDER BY id LIMIT 1",
        (guilds[0],),
    ).fetchone()
    places = [
        (guild, members[guild][-3 - n], shape.now - 300 + g * shape.waiting + n)
        for g, guild in enumerate(guilds[:3])
        for n in range(shape.waiting)
    ]
    conn.executemany(
        "INSERT INTO waiting_line (guild_id, member_id, preset_id, runway_target, avatar_label,"
        " wanted_seconds, joined_at) VALUES (?, ?, 'cooking-teacher', 'preset:cooking-teacher',"
        " ?, 300, ?)",
        [(guild, member, PRESET, joined) for guild, member, joined in places],
    )
    conn.execute(
        "INSERT INTO waiting_line (guild_id, member_id, preset_id, runway_target, avatar_label,"
        " wanted_seconds, state, session_id, joined_at) SELECT guild_id, member_id,"
        " 'cooking-teacher', 'preset:cooking-teacher', ?, 300, 'OFFERING', id, created_at - 30"
        " FROM sessions WHERE id = ?",
        (PRESET, offered),
    )
    conn.executemany(
        "INSERT INTO line_turns (guild_id, served) VALUES (?, ?)",
        [(guild, turn) for turn, guild in enumerate(reversed(guilds), start=1)],
    )


def periods(history: History) -> dict[str, int]:
    """Named parameters for any hot query, about the busy server's member now."""
    tz = zone_or_utc(history.timezones[history.busy_guild])
    now = history.shape.now
    day, month = day_period(now, tz), month_period(now, tz)
    year_start = month_period(month.start - 330 * DAY, tz).start
    return {
        "guild": history.busy_guild,
        "member": history.busy_member,
        "now": now,
        "start": month.start,
        "end": month.end,
        "day_start": day.start,
        "day_end": day.end,
        "month_start": month.start,
        "month_end": month.end,
        "months_start": year_start,
        "months_end": month.start,
        "year_start": year_start,
    }


COPIED = (
    "processes",
    "runway_intents",
    "guild_settings",
    "avatars",
    "guild_quotas",
    "quota_role_tiers",
    "sessions",
    "rollup_guild_days",
    "rollup_avatar_days",
    "rollup_end_days",
    "rollup_member_days",
    "rollup_member_months",
    "rollup_account_hours",
    "videos",
    "rollup_video_days",
    "rollup_video_member_days",
    "conversations",
    "waiting_line",
    "line_turns",
    "audit_log",
)


def copy_to_postgres(path: Path, url: str) -> None:
    """Copy a history built by `build` into a migrated, empty PostgreSQL database, as a bulk
    load: COPY with triggers off (the rows are already rolled up), then ANALYZE. The same
    rows on both engines, so their figures compare like for like."""
    source = sqlite3.connect(path)
    try:
        with psycopg.connect(url) as target:
            target.execute("SET session_replication_role = replica")  # no triggers, no FKs
            for table in COPIED:
                cursor = source.execute(f"SELECT * FROM {table}")
                columns = ", ".join(column[0] for column in cursor.description)
                with target.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in cursor:
                        copy.write_row(row)
            for table in (
                "avatars",
                "sessions",
                "processes",
                "runway_intents",
                "videos",
                "waiting_line",
                "audit_log",
            ):
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT coalesce(max(id), 1) FROM {table}))"
                )
            target.commit()
            target.autocommit = True
            target.execute("ANALYZE")
    finally:
        source.close()
