"""The three billable creates, as a member triggers them through the services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from bot.services.actors import Actor
from bot.services.avatars import AvatarDraft, ImageUpload
from bot.services.container import Services
from bot.services.sessions import PRESET_PREFIX
from bot.storage import Avatar, AvatarStatus
from tests.services.conftest import png

GUILD: Final = 4242
ADMIN: Final = Actor(user_id=11, manages_guild=True)
KINDS: Final = ("avatar", "document", "session")
ROUTES: Final = {
    "avatar": "/v1/avatars",
    "document": "/v1/documents",
    "session": "/v1/realtime_sessions",
}
CLIENT_METHODS: Final = {
    "avatar": "create_avatar",
    "document": "create_document",
    "session": "create_session",
}
FACTS: Final = b"Our server meets on Fridays. The quiz starts at eight."

Progress = Callable[[str], Awaitable[None]]


async def make_avatar(services: Services, name: str = "Ada") -> Avatar:
    draft = AvatarDraft(name=name, personality="A friendly guide.", voice="mia")
    upload = ImageUpload(data=png(), url=f"https://cdn.example.org/{name}.png")

    async def quiet(_: str) -> None:
        return None

    created = await services.avatars.create(GUILD, ADMIN, draft, upload, progress=quiet)
    return created.avatar


async def prepare(kind: str, services: Services) -> Avatar | None:
    """What must exist before the create under test: an avatar ready at Runway, for a
    document (the seed dialect cannot add documents at all)."""
    if kind != "document":
        return None
    avatar = await make_avatar(services, "Mia")
    assert avatar.status is AvatarStatus.READY
    return avatar


async def act(kind: str, services: Services, avatar: Avatar | None, progress: Progress) -> Any:
    """The member's command: what it returned (its errors propagate)."""
    if kind == "avatar":
        draft = AvatarDraft(name="Ada", personality="A friendly guide.", voice="mia")
        upload = ImageUpload(data=png(), url="https://cdn.example.org/ada.png")
        return await services.avatars.create(GUILD, ADMIN, draft, upload, progress=progress)
    if kind == "document":
        assert avatar is not None
        return await services.knowledge.add(
            GUILD, ADMIN, avatar, filename="facts.txt", data=FACTS, progress=progress
        )
    target = await services.sessions.target(GUILD, PRESET_PREFIX + "cooking-teacher")
    return await services.sessions.start(GUILD, ADMIN, target, progress=progress)
