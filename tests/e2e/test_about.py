"""/about end to end: synced at start-up, answered ephemerally, every REST call valid."""

from __future__ import annotations

import re

from bot import __version__
from tests.fakediscord import BotProcess, FakeDiscord, Member

COMMANDS_ROUTE = "/applications/{application_id}/commands"
CALLBACK_ROUTE = "/interactions/{interaction_id}/{interaction_token}/callback"


async def test_about_is_synced_globally_once_at_start_up(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    about = fake_discord.command("about")
    assert about is not None, f"synced: {[c.name for c in fake_discord.commands()]}"
    assert about.guild_id is None
    assert about.data["description"]
    assert len(fake_discord.calls("PUT", COMMANDS_ROUTE)) == 1


async def test_about_replies_ephemerally_with_version_dialect_mode_and_uptime(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member
) -> None:
    result = await fake_discord.invoke("about", member=member)
    ack = await result.ack()
    assert ack.latency < 3.0
    reply = await result.final()
    assert reply.ephemeral
    fields = {str(field.name): str(field.value) for field in reply.embed.fields}
    assert fields["Version"] == __version__
    assert fields["Runway API"] == "production"
    assert "Sandbox" in fields["Mode"]
    assert re.search(r"\d", fields["Uptime"])
    # A small bot: Discord recommends one shard, and this one process runs it.
    assert fields["Shard"] == "0 of 1 (this server)"
    assert fields["This process runs"] == "1 shard: 0"


async def test_every_rest_call_of_the_bot_was_valid(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member
) -> None:
    await (await fake_discord.invoke("about", member=member)).final()
    calls = fake_discord.calls()
    assert calls, "the bot made no REST calls"
    assert all(call.status < 400 for call in calls), [(c.method, c.path, c.status) for c in calls]
    assert any(call.template == CALLBACK_ROUTE for call in calls)
    assert fake_discord.violations == []
    assert fake_discord.fake_problems == []


async def test_the_bot_asks_for_no_privileged_intents(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    identity = fake_discord.identity
    assert identity is not None
    assert identity.intents == 1  # GUILDS only
