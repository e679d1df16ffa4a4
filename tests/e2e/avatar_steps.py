"""Steps the avatar and knowledge end-to-end modules share: what a member does, and where
a test looks afterwards (the reply, the bot's database, the Runway sandbox)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, PngImagePlugin

from bot.runway import catalog
from bot.runway.sandbox import Sandbox
from tests.e2e.database import rows as books
from tests.fakediscord import (
    Attachment,
    CallbackType,
    FakeDiscord,
    InteractionResult,
    Member,
    Message,
    RestCall,
)
from tests.runway.conftest import SANDBOX_KEY

PERSONALITY = "You are a cheerful guide to this server. Keep answers short."
NO_MENTIONS = {"parse": []}  # discord.AllowedMentions.none() on the wire
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
# REST routes whose body is a message (a reply, a followup, an edit, a channel post).
MESSAGE_ROUTES = frozenset(
    {
        ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
        ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
        ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
        ("POST", "/channels/{channel_id}/messages"),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    }
)


# Images


def png(*, size: int = 256, fail: bool = False) -> bytes:
    """A real PNG; `fail` marks it so the sandbox's processing ends FAILED."""
    info = PngImagePlugin.PngInfo()
    if fail:
        info.add_text("Comment", "SANDBOX-FAIL")
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (30, 90, 160)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def picture(fmt: str, size: tuple[int, int] = (256, 256)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, fmt)
    return buffer.getvalue()


def image(data: bytes | None = None, filename: str = "portrait.png") -> Attachment:
    return Attachment(filename, png() if data is None else data, "image/png")


def text_file(text: str | bytes, filename: str = "facts.txt") -> Attachment:
    data = text.encode() if isinstance(text, str) else text
    # Discord says "text/plain; charset=utf-8"; the fake cannot serve a charset (see report).
    return Attachment(filename, data, "text/plain")


# What members do


async def open_create(
    fake: FakeDiscord,
    who: Member,
    name: str,
    *,
    voice: str = "mia",
    attachment: Attachment | None = None,
    image_url: str | None = None,
    no_image: bool = False,
    style: str | None = None,
) -> InteractionResult:
    """Run /avatar create; the answer is the personality modal, or a refusal."""
    options: dict[str, Any] = {"name": name, "voice": voice}
    if image_url is not None:
        options["image_url"] = image_url
    if style is not None:
        options["style"] = style
    files: Sequence[Attachment] = ()
    if not no_image and (attachment is not None or image_url is None):
        files = [attachment or image()]
    return await fake.invoke("avatar create", member=who, options=options, attachments=files)


async def submit_create(
    fake: FakeDiscord,
    opened: InteractionResult,
    *,
    personality: str = PERSONALITY,
    opening: str = "",
) -> InteractionResult:
    ack = await opened.ack()
    if ack.type is not CallbackType.MODAL:
        refused = await opened.original()
        raise AssertionError(f"/avatar create answered without its modal: {refused.raw}")
    modal = await opened.modal()
    return await fake.submit_modal(modal, {"personality": personality, "start_script": opening})


async def create_avatar(
    fake: FakeDiscord,
    who: Member,
    name: str,
    *,
    personality: str = PERSONALITY,
    opening: str = "",
    **create: Any,
) -> Message:
    """/avatar create, the modal filled in and submitted, and the reply once it settled."""
    opened = await open_create(fake, who, name, **create)
    submitted = await submit_create(fake, opened, personality=personality, opening=opening)
    return await settled(fake, submitted)


async def settled(
    fake: FakeDiscord,
    result: InteractionResult,
    timeout: float = 15.0,  # noqa: ASYNC109
) -> Message:
    """The original response once it is no longer 'thinking' nor a '⏳' progress line."""
    ack = await result.ack()
    if ack.type in (CallbackType.MODAL, CallbackType.AUTOCOMPLETE_RESULT):
        raise AssertionError(f"{result}: answered with {ack.type.name}, not a message")
    record = result.record

    def done() -> bool:
        message = None if record.original_id is None else fake.message(record.original_id)
        return message is not None and not message.loading and not message.content.startswith("⏳")

    await record.wait_until(done, timeout, "the settled response")
    return await result.original()


async def text_appears(
    fake: FakeDiscord,
    result: InteractionResult,
    text: str,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> Message:
    """The original response once it contains `text` (for replies edited later)."""
    await result.ack()
    record = result.record

    def done() -> bool:
        message = None if record.original_id is None else fake.message(record.original_id)
        return message is not None and text in message.text

    await record.wait_until(done, timeout, f"{text!r} in the response")
    return await result.original()


async def refusal(
    fake: FakeDiscord,
    result: InteractionResult,
    timeout: float = 15.0,  # noqa: ASYNC109
) -> str:
    """The error the member read: ephemeral, one 'That did not work' embed; its text."""
    message = await settled(fake, result, timeout)
    assert message.ephemeral, message.text
    embed = message.embed
    assert embed.title == "That did not work", message.text
    return str(embed.description)


async def avatar_choices(
    fake: FakeDiscord, who: Member, typed: str = "", command: str = "avatar show"
) -> dict[str, str]:
    """Avatar autocomplete as `who` types: choice name -> value."""
    choices = await fake.autocomplete(command, "avatar", typed, member=who)
    return {choice.name: str(choice.value) for choice in choices}


async def avatar_id(fake: FakeDiscord, who: Member, name: str) -> str:
    """The autocomplete value of the avatar called `name` (what Discord sends on choosing)."""
    found = [
        value
        for label, value in (await avatar_choices(fake, who, name)).items()
        if label.split(" · ")[0] == name
    ]
    assert len(found) == 1, f"no single avatar called {name!r}: {found}"
    return found[0]


# Where tests look afterwards


def rows(workdir: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Read the database of the bot running in `workdir` (while it runs)."""
    return [tuple(row.values()) for row in books(workdir, sql, params)]


def avatar_rows(workdir: Path, guild_id: int) -> list[Mapping[str, Any]]:
    return books(workdir, "SELECT * FROM avatars WHERE guild_id = ? ORDER BY id", (guild_id,))


def document_rows(workdir: Path, guild_id: int) -> list[Mapping[str, Any]]:
    return books(workdir, "SELECT * FROM documents WHERE guild_id = ? ORDER BY id", (guild_id,))


async def at_runway(sandbox: Sandbox, path: str) -> tuple[int, Any]:
    """GET `path` from the sandbox as Runway's API; (status, JSON body)."""
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        response = await client.get(
            path,
            headers={
                "Authorization": f"Bearer {SANDBOX_KEY}",
                "X-Runway-Version": catalog.API_VERSION,
            },
        )
    return response.status_code, response.json()


def message_bodies(calls: Sequence[RestCall]) -> list[Mapping[str, Any]]:
    """Every message the bot sent or edited in `calls` (replies inside callbacks too)."""
    bodies: list[Mapping[str, Any]] = []
    for call in calls:
        if not isinstance(call.body, Mapping):
            continue
        if call.template == CALLBACK and call.method == "POST":
            if int(call.body.get("type", 0)) in (4, 7):
                bodies.append(call.body.get("data") or {})
        elif (call.method, call.template) in MESSAGE_ROUTES:
            bodies.append(call.body)
    return bodies
