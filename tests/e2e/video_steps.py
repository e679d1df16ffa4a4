"""Steps the avatar video end-to-end modules share: asking, waiting, and looking afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.runway.sandbox import Sandbox
from tests.e2e.conftest import runway_settings
from tests.e2e.database import rows
from tests.fakediscord import (
    Attachment,
    Channel,
    FakeDiscord,
    InteractionResult,
    Member,
    Message,
)

VIDEOS_ROUTE = "/v1/avatar_videos"
TASK_ROUTE = "/v1/tasks/{id}"
MIB = 1024 * 1024


def video_settings(runway: Sandbox, web_port: int, workdir: Path) -> dict[str, str]:
    """The bot against the test's sandbox, trusting its https media server, polling quickly."""
    ca = workdir / "sandbox-media-ca.pem"
    ca.write_bytes(runway.media_ca_pem)
    runway.config.task_pending_seconds = 0.3
    runway.config.task_render_seconds = 1.0
    return runway_settings(runway, web_port) | {
        "RUNWAY_MEDIA_CA_FILE": str(ca),
        "VIDEO_POLL_SECONDS": "0.3",
        "VIDEO_RENDER_TIMEOUT_SECONDS": "6",
    }


async def say(
    fake: FakeDiscord,
    who: Member,
    avatar: str,
    *,
    text: str | None = None,
    audio: bytes | None = None,
    voice: str | None = None,
    filename: str = "voice-message.ogg",
    channel: Channel | None = None,
) -> InteractionResult:
    options: dict[str, Any] = {"avatar": avatar}
    if text is not None:
        options["text"] = text
    if voice is not None:
        options["voice"] = voice
    files = [] if audio is None else [Attachment(filename, audio, "audio/ogg")]
    return await fake.invoke(
        "avatar say", member=who, options=options, attachments=files, channel=channel
    )


async def reply_until(
    result: InteractionResult, wanted: Callable[[Message], bool], patience: float = 20.0
) -> Message:
    """The member's reply once it reads as `wanted` (it is edited as the video goes)."""
    deadline = time.monotonic() + patience
    while True:
        message = await result.original()
        if not message.loading and wanted(message):
            return message
        if time.monotonic() > deadline:
            raise AssertionError(f"the reply never got there; it reads {message.text!r}")
        await asyncio.sleep(0.1)


async def posted(
    fake: FakeDiscord, channel: Channel, *, count: int = 1, patience: float = 20.0
) -> list[Message]:
    """The bot's video posts in `channel` (messages with a file or a link button)."""
    deadline = time.monotonic() + patience
    while True:
        found = [
            m
            for m in fake.channel_messages(channel)
            if m.files
            or any((b.custom_id or "").startswith("avatar-video:link") for b in m.buttons)
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def videos(workdir: Path, guild_id: int) -> list[Mapping[str, Any]]:
    """The guild's video rows in the database of the bot running in `workdir`."""
    return rows(workdir, "SELECT * FROM videos WHERE guild_id = ? ORDER BY id", (guild_id,))


async def video_row(
    database: Path, guild_id: int, wanted: Callable[[Mapping[str, Any]], bool], patience: float = 15
) -> Mapping[str, Any]:
    deadline = time.monotonic() + patience
    while True:
        found = videos(database, guild_id)
        if found and wanted(found[-1]):
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no video row as wanted; rows: {found}")
        await asyncio.sleep(0.1)


def ended(row: Mapping[str, Any]) -> bool:
    return row["state"] in ("SETTLED", "RELEASED")
