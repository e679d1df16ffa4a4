"""Steps the usage and privacy tests share: calls written into the running bot's books."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.storage.sqlite.functions import register_functions
from tests.fakediscord import Guild, Member


def record_calls(workdir: Path, guild: Guild, calls: list[tuple[Member, str, int, str]]) -> None:
    """Write settled calls (member, avatar, seconds, end reason) of today into the bot's
    database, as its tracker would have: each inserted live, then settled (which rolls it up,
    through the calendar functions the bot's connections have); the bot keeps its WAL open."""
    now = int(time.time())
    database = sqlite3.connect(workdir / "bot.db", timeout=10.0)
    register_functions(database)
    try:
        with database:
            for n, (who, avatar, seconds, reason) in enumerate(calls):
                (session_id,) = database.execute(
                    "INSERT INTO sessions (guild_id, member_id, avatar_label, dialect, state,"
                    " max_seconds, runway_id, created_at, consumed_at)"
                    " VALUES (?, ?, ?, 'production', 'OPEN', 300, ?, ?, ?) RETURNING id",
                    (guild.id, who.id, avatar, f"rw-{guild.id}-{n}", now - 600, now - 590),
                ).fetchone()
                database.execute(
                    "UPDATE sessions SET state = 'SETTLED', used_seconds = ?, end_reason = ?,"
                    " ended_at = ? WHERE id = ?",
                    (seconds, reason, now - 590 + seconds, session_id),
                )
    finally:
        database.close()
