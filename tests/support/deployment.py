"""A deployment's SQLite database with a row in every table, for the copy to PostgreSQL.

The history builder (`history.py`) gives the bulk: servers in several timezones, avatars,
settled, released and live calls with their rollups, intents, videos, kept conversations and
a waiting line, ending now (so "last 30 days" reports have something to show). What it leaves
empty is added here as the bot writes it: documents (one orphaned), avatar pictures, audio
of videos, the audit log, welcomes, sent budget alerts and a piece of app state.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from tests.support.history import History, Shape, build


async def populated(path: Path, *, sessions: int = 2_000, guilds: int = 6) -> History:
    history = await build(
        path,
        Shape(sessions=sessions, guilds=guilds, members=40 * guilds, waiting=2, now=now()),
        analyze=False,
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        _extras(conn, history)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return history


def now() -> int:
    return int(time.time())


def _extras(conn: sqlite3.Connection, history: History) -> None:
    moment = history.shape.now
    conn.execute("INSERT INTO app_state (key, value) VALUES ('commands_synced', 'v7')")
    avatars = conn.execute("SELECT id, guild_id, name FROM avatars ORDER BY id").fetchall()
    for n, (avatar_id, guild_id, name) in enumerate(avatars):
        conn.execute(
            "INSERT INTO documents (guild_id, avatar_id, runway_id, name, tokens, byte_size,"
            " added_by, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 100, ?, ?)",
            (
                guild_id,
                None if n == 0 else avatar_id,
                f"doc-{avatar_id}",
                f"{name}-notes.md",
                400 + n,
                1600 + 4 * n,
                "ORPHANED" if n == 0 else "ATTACHED",
                moment - n,
            ),
        )
        conn.execute(
            "INSERT INTO audit_log (guild_id, actor_id, action, subject, detail, created_at)"
            " VALUES (?, 100, 'avatar.create', ?, ?, ?)",
            (guild_id, name, json.dumps({"avatar_id": avatar_id, "name": name}), moment - n),
        )
        if n % 4 == 0:
            conn.execute(
                "INSERT INTO avatar_pictures (avatar_id, guild_id, source, source_uri,"
                " content_type, data, updated_at) VALUES (?, ?, 'supplied', NULL,"
                " 'image/jpeg', ?, ?)",
                (avatar_id, guild_id, b"\xff\xd8\x00\\x" + bytes(range(256)) + b"\xff\xd9", moment),
            )
    for guild_id in history.timezones:
        conn.execute(
            "INSERT INTO guild_welcomes (guild_id, channel_id, claimed_at) VALUES (?, ?, ?)",
            (guild_id, guild_id * 10, moment),
        )
    conn.execute(
        "INSERT INTO quota_alerts_sent (guild_id, budget, period_start, percent, sent_at)"
        " VALUES (?, 'month', ?, 80, ?)",
        (history.busy_guild, moment - 86_400, moment),
    )
    conn.execute(
        "INSERT INTO video_audio (video_id, mime, data)"
        " SELECT id, 'audio/mpeg', randomblob(64) FROM videos ORDER BY id LIMIT 3"
    )
    # A member who asked to be forgotten today: what the limits still read (bot.storage.held_usage).
    conn.execute(
        "INSERT INTO held_usage (guild_id, member_id, day_start, call_seconds, video_seconds,"
        " call_ended_at, video_counted_at, expires_at) VALUES (?, 4242, ?, 240, 12, ?, NULL, ?)",
        (history.busy_guild, moment - 3_600, moment - 600, moment + 86_400),
    )
    # The stopped history process's last shard claim (claims die with the process).
    conn.execute(
        "INSERT INTO shard_claims (shard_id, shard_count, process_id, claimed_at)"
        " VALUES (0, 1, 1, ?)",
        (moment - 7_200,),
    )
    # The stopped process's expired lease, and an end it had yet to announce (bot.storage.outbox).
    conn.execute(
        "INSERT INTO leases (name, holder, expires_at) VALUES ('session-tracker', 1, ?)", (moment,)
    )
    conn.execute(
        "INSERT INTO session_outbox (session_id, created_at, claimer, claimed_until, attempts)"
        " SELECT id, ?, NULL, NULL, 0 FROM sessions WHERE state = 'SETTLED'"
        " ORDER BY id DESC LIMIT 1",
        (moment,),
    )
