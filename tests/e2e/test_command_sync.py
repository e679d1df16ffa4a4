"""Command sync at start-up: only when the definitions changed, to the dev guild when set.

Each test starts its own bot processes (restarts are the point), sharing the module's
fake Discord, which keeps synced commands across restarts as Discord does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.realbot import start_real_bot
from tests.fakediscord import FakeDiscord

GLOBAL_ROUTE = "/applications/{application_id}/commands"
GUILD_ROUTE = "/applications/{application_id}/guilds/{guild_id}/commands"


async def test_a_restart_with_unchanged_commands_does_not_sync_again(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    first = await start_real_bot(fake_discord, tmp_path)
    assert await first.stop() == 0
    syncs = len(fake_discord.calls("PUT", GLOBAL_ROUTE))
    assert syncs >= 1

    second = await start_real_bot(fake_discord, tmp_path)
    try:
        assert len(fake_discord.calls("PUT", GLOBAL_ROUTE)) == syncs
        guild = await fake_discord.create_guild("After Restart")
        member = fake_discord.create_member(guild, "returning")
        reply = await (await fake_discord.invoke("about", member=member)).final()
        assert reply.ephemeral
    finally:
        assert await second.stop() == 0


async def test_with_a_dev_guild_commands_sync_to_that_guild_only(
    discord_spec: Path, tmp_path: Path
) -> None:
    async with FakeDiscord.serve(spec_path=discord_spec) as fake:  # no global commands yet
        dev = await fake.create_guild("Dev Server")
        elsewhere = await fake.create_guild("Elsewhere")
        bot = await start_real_bot(fake, tmp_path, {"DEV_GUILD_ID": str(dev.id)})
        try:
            assert [call.path.split("/")[4] for call in fake.calls("PUT", GUILD_ROUTE)] == [
                str(dev.id)
            ]
            assert fake.calls("PUT", GLOBAL_ROUTE) == []
            about = fake.command("about", dev)
            assert about is not None
            assert about.guild_id == dev.id
            member = fake.create_member(dev, "developer")
            assert (await (await fake.invoke("about", member=member)).final()).ephemeral
            outsider = fake.create_member(elsewhere, "outsider")
            with pytest.raises(AssertionError, match="not synced in Elsewhere"):
                await fake.invoke("about", member=outsider, sync_timeout=0.1)
        finally:
            assert await bot.stop() == 0
        fake.assert_honest()
