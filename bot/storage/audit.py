"""The audit log: who did what to which avatar or document, readable by a guild's admins.

Other repositories write an `AuditEvent` in the same transaction as the change it records
(`insert_event`), so a change and its record commit together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from bot.storage.common import FORGOTTEN_MEMBER, Clock, JsonValue, unix_now
from bot.storage.database import Database
from bot.storage.privacy import personal_data
from bot.storage.transaction import Row, WriteTx


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, as a service describes it; `actor_id` is None when the bot acted."""

    actor_id: int | None
    action: str
    subject: str
    detail: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    guild_id: int
    actor_id: int | None
    action: str
    subject: str
    detail: Mapping[str, JsonValue]
    created_at: int


def insert_event(tx: WriteTx, guild_id: int, event: AuditEvent, now: int) -> AuditEntry:
    """Record `event` inside the caller's transaction."""
    row = tx.fetch_one(
        "INSERT INTO audit_log (guild_id, actor_id, action, subject, detail, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        (guild_id, event.actor_id, event.action, event.subject, json.dumps(event.detail), now),
    )
    assert row is not None, "INSERT ... RETURNING returns the row"
    return _entry(row)


class AuditRepository:
    def __init__(self, db: Database, clock: Clock = unix_now) -> None:
        self._db = db
        self._clock = clock

    async def record(self, guild_id: int, event: AuditEvent) -> AuditEntry:
        """Record an event that goes with no other change."""
        now = self._clock()
        return await self._db.write(lambda tx: insert_event(tx, guild_id, event, now))

    async def history(
        self, guild_id: int, *, limit: int = 20, before_id: int | None = None
    ) -> list[AuditEntry]:
        """The guild's entries, newest first; pass the last id seen as `before_id` for more."""
        rows = await self._db.fetch_all(
            "SELECT * FROM audit_log WHERE guild_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (guild_id, before_id if before_id is not None else 2**63 - 1, limit),
        )
        return [_entry(row) for row in rows]


@personal_data("history entries", "audit_log.actor_id")
def _forget_actor(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """The server keeps its record of what was done, not by whom: the entries a member made
    are kept under FORGOTTEN_MEMBER. (Subjects and details name avatars and documents, never
    members.)"""
    return tx.execute(
        "UPDATE audit_log SET actor_id = :forgotten WHERE guild_id = :guild AND actor_id = :member",
        {"guild": guild_id, "member": member_id, "forgotten": FORGOTTEN_MEMBER},
    )


LOOKED_UP_MEMBER = "member_id"
"""The `detail` key of an entry that names the member whose calls an admin looked at."""


@personal_data("look-ups of your calls")
def _forget_looked_up(tx: WriteTx, guild_id: int, member_id: int) -> int:
    """Entries recording that an admin looked at the member's calls keep the look-up and
    lose whose calls they were (details are JSON text, read here rather than in SQL)."""
    changed = 0
    rows = tx.fetch_all(
        "SELECT id, detail FROM audit_log WHERE guild_id = :guild AND action LIKE 'call.%'",
        {"guild": guild_id},
    )
    for row in rows:
        detail = json.loads(row["detail"])
        if detail.get(LOOKED_UP_MEMBER) == str(member_id):
            detail[LOOKED_UP_MEMBER] = str(FORGOTTEN_MEMBER)
            changed += tx.execute(
                "UPDATE audit_log SET detail = :detail WHERE id = :id",
                {"detail": json.dumps(detail), "id": row["id"]},
            )
    return changed


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        guild_id=row["guild_id"],
        actor_id=row["actor_id"],
        action=row["action"],
        subject=row["subject"],
        detail=cast(dict[str, JsonValue], json.loads(row["detail"])),
        created_at=row["created_at"],
    )
