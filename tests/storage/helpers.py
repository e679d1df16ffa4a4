"""Builders for test rows, so each test states only what it is about."""

from __future__ import annotations

from bot.settings import Dialect
from bot.storage import NewAvatar, NewDocument, NewSession


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
    avatar_id: int, runway_id: str, tokens: int = 1000, guild_id: int = 1
) -> NewDocument:
    return NewDocument(
        guild_id=guild_id,
        avatar_id=avatar_id,
        runway_id=runway_id,
        name=f"{runway_id}.md",
        tokens=tokens,
        byte_size=tokens * 4,
        added_by=100,
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
