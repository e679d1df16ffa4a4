"""The one short welcome the bot posts when it joins a server, in the server's system channel.

It goes out only where the bot may post (otherwise it stays quiet), only in a server it just
joined, and never twice (`bot.services.welcomes` decides). Discord sends a server's
GUILD_CREATE again on every connection, so both "joined" and "available" are heard.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_permissions import WELCOME, missing
from bot.runway_bot import RunwayCharactersBot
from cogs.channels import permissions_in
from cogs.command_index import command_ref
from cogs.help import first_steps
from cogs.shared import NO_MENTIONS

log = logging.getLogger(__name__)

WELCOME_TITLE = "Thanks for adding Runway Characters"


def welcome_text(tree: app_commands.CommandTree[Any]) -> str:
    return (
        "Members can talk live, face to face, with video avatars made from a picture. "
        f"Three steps to a first call:\n{first_steps(tree)}\n"
        f"{command_ref(tree, 'help')} lists every command."
    )


class WelcomeCog(commands.Cog):
    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.greet(guild)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """A server invited the bot while it was offline: greet it now that it is back."""
        await self.greet(guild)

    async def greet(self, guild: discord.Guild) -> None:
        welcomes = self.bot.services.welcomes
        joined = guild.me.joined_at
        joined_at = None if joined is None else int(joined.timestamp())
        if not welcomes.recently_joined(joined_at):
            return  # an established server, seen again on a reconnect: no database work
        channel = guild.system_channel
        if channel is None:
            return
        lacking = missing(permissions_in(channel), WELCOME.needs)
        if lacking:
            log.info(
                "not welcoming server %s: its system channel does not allow %s", guild.id, lacking
            )
            return
        if not await welcomes.claim(guild.id, channel.id, joined_at):
            return
        embed = self.bot.embeds.make(WELCOME_TITLE, welcome_text(self.bot.tree))
        try:
            await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not post the welcome in server %s", guild.id, exc_info=True)


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(WelcomeCog(bot))
