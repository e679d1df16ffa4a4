"""Steps the usage and privacy tests share: calls written into the running bot's books."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.database import connect
from tests.fakediscord import Guild, Member


def record_calls(workdir: Path, guild: Guild, calls: list[tuple[Member, str, int, str]]) -> None:
    """Write settled calls (member, avatar, seconds, end reason) of today into the bot's
    database, as its tracker would have: each inserted live, then settled (which rolls it up,
    through the calendar functions the bot's connections have)."""
    now = int(time.time())
    with connect(workdir) as books:
        for n, (who, avatar, seconds, reason) in enumerate(calls):
            [inserted] = books.fetch_all(
                "INSERT INTO sessions (guild_id, member_id, avatar_label, dialect, state,"
                " max_seconds, runway_id, created_at, consumed_at)"
                " VALUES (?, ?, ?, 'production', 'OPEN', 300, ?, ?, ?) RETURNING id",
                (guild.id, who.id, avatar, f"rw-{guild.id}-{n}", now - 600, now - 590),
            )
            books.fetch_all(
                "UPDATE sessions SET state = 'SETTLED', used_seconds = ?, end_reason = ?,"
                " ended_at = ? WHERE id = ?",
                (seconds, reason, now - 590 + seconds, inserted["id"]),
            )
