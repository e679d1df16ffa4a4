"""Channels admins pick for the bot's posts, end to end.

When an admin picks the review or the alert channel, the bot checks at once that it can
view it, send messages, embed links and attach files there, and names what is missing. When
a permission is taken away later, the next post that cannot be made is not lost silently:
the member's reply says so and the audit log (/avatar history) records it, and /quota show
warns. The bot runs as a live deployment whose "Runway" is the `runway` sandbox here, so a
call can be ended at Runway and settled, which is when budget alerts are posted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.runway.sandbox import Sandbox
from tests.e2e.avatar_steps import create_avatar
from tests.e2e.conftest import runway_settings
from tests.e2e.session_steps import HESITATE_SECONDS, PAGE_HEADERS, only_row, start_session
from tests.fakediscord import (
    BotProcess,
    Channel,
    FakeDiscord,
    Guild,
    Member,
    Message,
    Overwrite,
    Permission,
)

PICKS = {
    "avatar permissions": "review_channel",
    "quota set": "alert_channel",
    "calls settings": "moderation_log",
}
CHECKED = {
    Permission.VIEW_CHANNEL: "View Channel",
    Permission.SEND_MESSAGES: "Send Messages",
    Permission.EMBED_LINKS: "Embed Links",
    Permission.ATTACH_FILES: "Attach Files",
}


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


async def run(fake: FakeDiscord, command: str, who: Member, **options: Any) -> Message:
    reply = await (await fake.invoke(command, member=who, options=options or None)).final(
        timeout=15.0
    )
    assert reply.ephemeral
    return reply


def fields(reply: Message, embed: int = 0) -> dict[str, str]:
    return {str(item["name"]): str(item["value"]) for item in reply.raw["embeds"][embed]["fields"]}


def posts_to(fake: FakeDiscord, channel: Channel) -> int:
    return len(
        [c for c in fake.calls("POST") if c.path.endswith(f"/channels/{channel.id}/messages")]
    )


async def picked_channel(fake: FakeDiscord, guild: Guild, *, deny: int = 0) -> Channel:
    channel = await fake.create_text_channel(guild, "picked")
    if deny:
        await fake.set_channel_permissions(channel, fake.bot_role(guild), deny=deny)
    return channel


async def history(fake: FakeDiscord, admin: Member, *, contains: str, timeout: float = 15.0) -> str:  # noqa: ASYNC109
    """/avatar history, asked until it shows `contains` (posts are made in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        text = (await run(fake, "avatar history", admin)).embed.description or ""
        if contains in text:
            return text
        assert time.monotonic() < deadline, f"not in the audit log: {contains!r}\n{text}"
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("denied", list(CHECKED), ids=lambda permission: permission.name)
@pytest.mark.parametrize("command", list(PICKS))
async def test_picking_a_channel_names_the_permission_the_bot_lacks_there(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    guild: Guild,
    admin: Member,
    command: str,
    denied: Permission,
) -> None:
    channel = await picked_channel(fake_discord, guild, deny=int(denied))

    refused = await run(fake_discord, command, admin, **{PICKS[command]: channel})

    text = refused.embed.description or ""
    assert f"I can't post in <#{channel.id}>: I'm missing **{CHECKED[denied]}** there." in text
    assert [name for name in CHECKED.values() if f"**{name}**" in text] == [CHECKED[denied]]
    assert "Edit Channel › Permissions" in text
    if command == "quota set":
        shown = await run(fake_discord, "quota show", admin)
        assert fields(shown, 1)["Alerts"] == "off"
    elif command == "calls settings":
        shown = await run(fake_discord, "calls settings", admin)
        assert fields(shown)["Moderation log"] == "not set"
    else:
        shown = await run(fake_discord, "avatar permissions", admin)
        assert fields(shown)["Review channel"] == "not set"

    await fake_discord.set_channel_permissions(channel, fake_discord.bot_role(guild))
    accepted = await run(fake_discord, command, admin, **{PICKS[command]: channel})
    assert f"<#{channel.id}>" in accepted.text
    assert "⚠️" not in accepted.text


async def test_picking_the_channel_the_command_runs_in_uses_discords_own_figure(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member
) -> None:
    channel = await picked_channel(fake_discord, guild, deny=int(Permission.ATTACH_FILES))

    result = await fake_discord.invoke(
        "quota set", member=admin, options={"alert_channel": channel}, channel=channel
    )
    refused = await result.final()

    assert "I'm missing **Attach Files** there" in (refused.embed.description or "")
    assert int(result.record.payload["app_permissions"]) & Permission.ATTACH_FILES == 0


async def test_a_budget_alert_the_bot_can_no_longer_post_is_in_the_audit_log(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    guild: Guild,
    admin: Member,
    member: Member,
    runway: Sandbox,
    bot_web_port: int,
    bot_workdir: Path,
) -> None:
    channel = await picked_channel(fake_discord, guild)
    await run(
        fake_discord,
        "quota set",
        admin,
        limit="guild_day_seconds",
        amount="2",
        alert_channel=channel,
    )
    await fake_discord.set_channel_permissions(
        channel, fake_discord.bot_role(guild), deny=int(Permission.SEND_MESSAGES)
    )
    started = await start_session(fake_discord, member)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bot_web_port}") as page:
        await asyncio.sleep(HESITATE_SECONDS)
        joined = await page.post(f"/join/{started.code}/credentials", headers=PAGE_HEADERS)
        assert joined.status_code == 200, joined.text
    runway.end_session(only_row(bot_workdir, member).runway_id, after_seconds=70)

    logged = await history(fake_discord, admin, contains="could not post a budget alert")
    assert f"in <#{channel.id}>: I'm missing **Send Messages** there" in logged
    assert posts_to(fake_discord, channel) == 0  # known from the gateway: no refused request
    shown = await run(fake_discord, "quota show", admin)
    assert fields(shown, 1)["Alerts"] == f"<#{channel.id}> ⚠️ I'm missing **Send Messages** there"


async def test_a_review_post_discord_refuses_is_told_to_the_member_and_logged(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member
) -> None:
    channel = await picked_channel(fake_discord, guild)
    await run(fake_discord, "avatar permissions", admin, approval=True, review_channel=channel)
    # Taken away without the bot hearing of it (a lost event): only Discord's answer says so.
    bot_role = fake_discord.bot_role(guild)
    channel.overwrites.append(Overwrite(id=bot_role.id, type=0, deny=int(Permission.ATTACH_FILES)))

    reply = await create_avatar(fake_discord, admin, "Mia")

    text = reply.embed.description or ""
    assert f"I could not post it in <#{channel.id}> for review" in text
    assert "Discord says I'm missing a permission there" in text
    assert "`/avatar history`" in text
    logged = await history(fake_discord, admin, contains="could not post an avatar review post")
    assert f"<#{channel.id}>: Discord says I'm missing a permission there" in logged
    [refused] = [
        c for c in fake_discord.calls("POST") if c.path.endswith(f"/{channel.id}/messages")
    ]
    assert refused.status == 403

    # Fixed, and the channel chosen again: the waiting review is posted, picture and all.
    await fake_discord.set_channel_permissions(channel, bot_role)
    result = await fake_discord.invoke(
        "avatar permissions", member=admin, options={"review_channel": channel}
    )
    await result.final()
    [note] = await result.followups(1)
    assert note.content == f"Posted for review in <#{channel.id}>: **Mia**."
    [review] = [
        m for m in fake_discord.channel_messages(channel) if "interaction_metadata" not in m.raw
    ]
    assert review.embed.title == "Review: Mia"
    assert [file.filename for file in review.files] == ["avatar.jpg"]
    assert review.embed.image.url == "attachment://avatar.jpg"
    assert review.files[0].data.startswith(b"\xff\xd8")  # a JPEG the bot encoded
