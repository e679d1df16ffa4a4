"""/about: what this bot is and how it is set up, proving the whole path end to end.

Admins also get the invite link, to add the bot to another server.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_permissions import invite_permissions, label
from bot.runway_bot import RunwayCharactersBot
from bot.services.durations import duration_text
from bot.services.shard_claims import Coverage
from bot.sharding import describe_shard_ids
from cogs.command_index import for_everyone
from cogs.recovery import reconciliation_summary


class About(commands.Cog):
    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot

    @for_everyone
    @app_commands.command(name="about")
    async def about(self, interaction: discord.Interaction[RunwayCharactersBot]) -> None:
        """Show the bot's version, which Runway API it speaks, and how long it has run."""
        settings = self.bot.settings
        embed = self.bot.embeds.make(
            "Runway Characters for Discord",
            "Conversational video avatars from Runway, live in your server.",
        )
        embed.add_field(name="Version", value=self.bot.version)
        embed.add_field(name="Runway API", value=settings.runway_api_dialect.value)
        embed.add_field(
            name="Mode",
            value="Sandbox (emulated, free)" if settings.runway_sandbox else "Live",
        )
        embed.add_field(name="Uptime", value=duration_text(self.bot.uptime_seconds))
        where = "this server" if interaction.guild_id is not None else "direct messages"
        shard = self.bot.shard_for(interaction.guild_id)
        embed.add_field(name="Shard", value=f"{shard} of {self.bot.shard_count} ({where})")
        ids = self.bot.process_shard_ids
        embed.add_field(
            name="This process runs",
            value=f"{len(ids)} {'shard' if len(ids) == 1 else 'shards'}: {describe_shard_ids(ids)}",
        )
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            needs = ", ".join(label(name) for name, wanted in invite_permissions() if wanted)
            embed.add_field(
                name="Invite link (admins)",
                value=f"[Add the bot to a server]({self.bot.invite_url})\n"
                f"It asks for {needs}, and for slash commands.\n`{self.bot.invite_url}`",
                inline=False,
            )
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            embed.add_field(
                name="Shards of all processes (admins)",
                value=coverage_text(await self.bot.services.shards.coverage()),
                inline=False,
            )
            embed.add_field(
                name="Runway check (admins)",
                value=await reconciliation_summary(self.bot, interaction.guild_id),
                inline=False,
            )
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


def coverage_text(coverage: Coverage) -> str:
    """What the live processes run, as the database shows it, and what none of them does."""
    if coverage.shard_count is None:
        return "No live process has claimed shards."
    noun = "process runs" if coverage.processes == 1 else "processes run"
    text = f"{coverage.processes} {noun} {len(coverage.claimed)} of {coverage.shard_count} shards."
    if coverage.missing:
        text += (
            f" No process runs {describe_shard_ids(coverage.missing)}: servers on those shards "
            "get no answer until one starts (check SHARD_IDS)."
        )
    return text


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(About(bot))
