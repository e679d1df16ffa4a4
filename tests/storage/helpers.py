"""Builders for test rows, so each test states only what it is about."""

from __future__ import annotations

from bot.settings import Dialect
from bot.storage import NewAvatar, NewDocument, NewSession
from bot.storage.transaction import WriteTx


def new_avatar(guild_id: int = 1, name: str = "Ada", **changes: object) -> NewAvatar:
    fields: dict[str, object] = {
        "guild_id": guild_id,
        "name": name,
        "personality": "A patient maths tutor.",
        "voice_preset": "clara",
        "created_by": 100,
    }
    return NewAvatar(**(fields | changes))  # type: ignore[arg-type]


def new_document(
    avatar_id: int, runway_id: str, tokens: int = 1000, guild_id: int = 1, added_by: int = 100
) -> NewDocument:
    return NewDocument(
        guild_id=guild_id,
        avatar_id=avatar_id,
        runway_id=runway_id,
        name=f"{runway_id}.md",
        tokens=tokens,
        byte_size=tokens * 4,
        added_by=added_by,
    )


def new_session(
    guild_id: int = 1, member_id: int = 100, max_seconds: int = 300, **changes: object
) -> NewSession:
    fields: dict[str, object] = {
        "guild_id": guild_id,
        "member_id": member_id,
        "avatar_label": "cooking-teacher",
        "preset_id": "cooking-teacher",
        "dialect": Dialect.PRODUCTION,
        "max_seconds": max_seconds,
    }
    return NewSession(**(fields | changes))  # type: ignore[arg-type]


ENDED = ("SETTLED", "RELEASED")


def insert_session(
    tx: WriteTx,
    *,
    guild_id: int,
    member_id: int,
    state: str,
    created_at: int,
    max_seconds: int = 300,
    used_seconds: int | None = None,
    ended_at: int | None = None,
    end_reason: str = "completed",
    runway_id: str | None = None,
    avatar_label: str = "x",
    dialect: str = "seed",
) -> int:
    """A session in any state and at any time, as the bot would have left it: inserted live,
    then ended by an UPDATE (which is what rolls it up)."""
    row = tx.fetch_one(
        "INSERT INTO sessions (guild_id, member_id, avatar_label, dialect, state, max_seconds,"
        " runway_id, created_at) VALUES (:guild, :member, :label, :dialect, :state, :max,"
        " :runway_id, :created) RETURNING id",
        {
            "guild": guild_id, "member": member_id, "label": avatar_label, "dialect": dialect,
            "state": "OPEN" if state == "OPEN" else "RESERVED", "max": max_seconds,
            "runway_id": runway_id, "created": created_at,
        },
    )  # fmt: skip
    assert row is not None
    if state in ENDED:
        tx.execute(
            "UPDATE sessions SET state = :state, used_seconds = :used, end_reason = :reason,"
            " ended_at = :ended WHERE id = :id",
            {
                "state": state, "used": used_seconds if state == "SETTLED" else None,
                "reason": end_reason, "ended": ended_at, "id": row[0],
            },
        )  # fmt: skip
    return int(row[0])
