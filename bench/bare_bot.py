"""The baseline for the benchmarks: the least a discord.py bot can be and still answer /about.

Same intents and caches as the real bot (guilds only, no member cache, no chunking), the
same auto-sharded client (a bot in more than 2,500 servers must shard, so both run the
shards Discord recommends; this one keeps discord.py's default IDENTIFY pacing), one
slash command that replies at once with an ephemeral embed of the same shape as ours (a
title, a description, six inline fields, a footer), so that the latency benchmark
compares the work around the reply rather than the size of the reply. It reads the
same settings from the environment (`DISCORD_TOKEN`, `DISCORD_API_BASE_URL`,
`DEV_GUILD_ID`) and prints "ready" when discord.py fires on_ready. The test harness uses
it too, to prove the fake Discord works before the real bot exists.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import cast

import discord
from discord import app_commands

from bot.discord_endpoint import use_discord_api_base


class BareBot(discord.AutoShardedClient):
    def __init__(self, dev_guild_id: int | None) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            intents=intents,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
        )
        self.tree = app_commands.CommandTree(self)
        self.dev_guild = discord.Object(dev_guild_id) if dev_guild_id else None
        self.tree.add_command(
            app_commands.Command(name="about", description="About this bot", callback=about)
        )

    async def setup_hook(self) -> None:
        if self.dev_guild is not None:
            self.tree.copy_global_to(guild=self.dev_guild)
        await self.tree.sync(guild=self.dev_guild)

    async def on_ready(self) -> None:
        print(f"ready in {len(self.guilds)} guilds", flush=True)


STARTED = time.monotonic()


async def about(interaction: discord.Interaction) -> None:
    embed = discord.Embed(
        title="Bare bot", description="The least a discord.py bot can be.", colour=0x5865F2
    )
    embed.add_field(name="Version", value=discord.__version__)
    embed.add_field(name="Runway API", value="none")
    embed.add_field(name="Mode", value="Bare")
    embed.add_field(name="Uptime", value=f"{time.monotonic() - STARTED:.0f} s")
    client = cast(BareBot, interaction.client)
    shard = interaction.guild.shard_id if interaction.guild else 0
    embed.add_field(name="Shard", value=f"{shard} of {client.shard_count}")
    embed.add_field(name="This process runs", value=f"{len(client.shards)} shards")
    embed.set_footer(text="Benchmark baseline: nothing here is real.")
    await interaction.response.send_message(embed=embed, ephemeral=True)


async def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    base = os.environ.get("DISCORD_API_BASE_URL")
    if base:
        use_discord_api_base(base)
    guild = os.environ.get("DEV_GUILD_ID")
    async with BareBot(int(guild) if guild else None) as client:
        await client.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
