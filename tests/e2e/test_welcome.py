"""The welcome end to end: one short message in the system channel of a server that adds the
bot, where the bot may post; never a second one, across re-invites, reconnects and restarts.

Checking that nothing was posted needs no waiting: the bot handles gateway events in order,
so once a later server's welcome has arrived, an earlier server's was decided too.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.realbot import start_real_bot
from tests.fakediscord import (
    BotProcess,
    Channel,
    FakeDiscord,
    Guild,
    Message,
    Overwrite,
    Permission,
    RestCall,
)

POST = "/channels/{channel_id}/messages"
TITLE = "Thanks for adding Runway Characters"


def posts(fake: FakeDiscord, channel: Channel) -> list[Message]:
    return [m for m in fake.channel_messages(channel) if "interaction_metadata" not in m.raw]


def posts_to(fake: FakeDiscord, channel: Channel) -> list[RestCall]:
    return [
        call for call in fake.calls("POST", POST) if call.path.endswith(f"/{channel.id}/messages")
    ]


async def welcome_in(fake: FakeDiscord, guild: Guild, timeout: float = 10.0) -> Message:  # noqa: ASYNC109
    channel = guild.text_channel
    deadline = time.monotonic() + timeout
    while not (found := posts(fake, channel)):
        assert time.monotonic() < deadline, f"no welcome in {guild.name}"
        await asyncio.sleep(0.05)
    return found[0]


async def sentinel(fake: FakeDiscord) -> None:
    """A server that is welcomed: once its welcome is in, every earlier event was handled."""
    await welcome_in(fake, await fake.create_guild("Sentinel Server"))


async def test_a_server_that_adds_the_bot_gets_one_short_welcome(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    guild = await fake_discord.create_guild("Fresh Server")

    welcome = await welcome_in(fake_discord, guild)

    assert welcome.embed.title == TITLE
    text = welcome.embed.description or ""
    assert len(text) < 800
    steps = ["`/avatar permissions`", "`/avatar create`", "`/session start`", "`/quota set`"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions), "permissions, create, call, then limits"
    assert "`/help`" in text
    [call] = posts_to(fake_discord, guild.text_channel)
    assert call.body["allowed_mentions"] == {"parse": []}
    assert call.status == 200

    # Removed and invited again: Discord sends the join again; the bot stays quiet.
    await fake_discord.announce_guild(guild)
    await fake_discord.request_reconnect()
    await sentinel(fake_discord)
    assert len(posts(fake_discord, guild.text_channel)) == 1


@pytest.mark.parametrize(
    "denied",
    [Permission.VIEW_CHANNEL, Permission.SEND_MESSAGES, Permission.EMBED_LINKS],
    ids=lambda permission: permission.name,
)
async def test_no_welcome_where_the_bot_may_not_post(
    fake_discord: FakeDiscord, bot: BotProcess, denied: Permission
) -> None:
    guild = await fake_discord.create_guild("Locked Server", announce=False)
    bot_role = fake_discord.bot_role(guild)
    guild.text_channel.overwrites.append(Overwrite(id=bot_role.id, type=0, deny=int(denied)))
    await fake_discord.announce_guild(guild)

    await sentinel(fake_discord)

    assert posts_to(fake_discord, guild.text_channel) == []


async def test_no_welcome_without_a_system_channel(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    guild = await fake_discord.create_guild("Quiet Server", system_channel=False)

    await sentinel(fake_discord)

    assert posts_to(fake_discord, guild.text_channel) == []


async def test_once_per_server_across_restarts_and_never_for_established_servers(
    discord_spec: Path, tmp_path: Path
) -> None:
    async with FakeDiscord.serve(spec_path=discord_spec) as fake:
        [established] = fake.add_guilds_quietly(1, prefix="Established")  # joined a month ago
        while_offline = await fake.create_guild("Invited While Offline")  # no bot connected

        first = await start_real_bot(fake, tmp_path)
        try:
            await welcome_in(fake, while_offline)
            await sentinel(fake)
        finally:
            assert await first.stop() == 0

        second = await start_real_bot(fake, tmp_path)  # the same database
        try:
            await sentinel(fake)
        finally:
            assert await second.stop() == 0

        assert len(posts(fake, while_offline.text_channel)) == 1
        assert posts_to(fake, established.text_channel) == []
        fake.assert_honest()
