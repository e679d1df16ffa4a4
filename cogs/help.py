"""/help: one page per command group, drawn from the registered commands so it never drifts.

Each page lists the group's commands under who may use them: everyone, avatar managers, or
admins. Names and descriptions come from the command tree, audiences from the commands' own
declarations (`cogs.command_index`); a menu switches pages.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.clip import clip
from bot.runway_bot import RunwayCharactersBot
from bot.ui.fit import FIELD_VALUE, OPTION_TEXT
from cogs.command_index import Audience, CommandGroup, command_groups, command_ref, for_everyone
from cogs.shared import NO_MENTIONS, Interaction
from cogs.views import OwnedView

PAGE_SELECT_ID = "help:page"

AUDIENCE_HEADINGS = {
    Audience.EVERYONE: "Everyone can",
    Audience.MANAGERS: "Avatar managers (Manage Server, or the role set in /avatar permissions)",
    Audience.ADMINS: "Admins only (Manage Server)",
}


def first_steps(tree: app_commands.CommandTree[Any]) -> str:
    """The three steps to a first call, and where the limits are: /help's first page, and
    the welcome message."""
    ref = partial(command_ref, tree)
    return "\n".join(
        [
            f"**1.** {ref('avatar permissions')}: choose who may create avatars besides "
            "Manage Server, and whether new ones wait for approval.",
            f"**2.** {ref('avatar create')}: give it a name, a voice and a clear portrait.",
            f"**3.** {ref('session start')}: pick the avatar; the bot DMs a one-time link to "
            "the call.",
            f"**Limits:** {ref('quota set')} caps call time per member, per day and per month "
            f"({ref('quota show')} lists them); {ref('usage')} shows what was used.",
        ]
    )


def page_title(group: CommandGroup) -> str:
    return "General" if group.name is None else f"/{group.name}"


def render_page(bot: RunwayCharactersBot, groups: list[CommandGroup], index: int) -> discord.Embed:
    group = groups[index]
    embed = bot.embeds.make(
        f"Help · {page_title(group)}",
        group.description,
        footer=f"Page {index + 1} of {len(groups)} · only you can see this",
    )
    if group.name is None:
        embed.description = f"Three steps to a first call:\n{first_steps(bot.tree)}"
    for who, heading in AUDIENCE_HEADINGS.items():
        lines = [
            f"`/{info.name}` · {info.description}"
            for info in group.commands
            if info.audience is who
        ]
        for number, chunk in enumerate(_chunks(lines)):
            embed.add_field(name=heading if number == 0 else f"{heading} (more)", value=chunk)
    return embed


def _chunks(lines: list[str]) -> list[str]:
    """Lines joined into field values that fit Discord's limit for one."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= FIELD_VALUE:
            chunks[-1] += "\n" + line
        else:
            chunks.append(clip(line, FIELD_VALUE))
    return chunks


class PageMenu(discord.ui.Select["HelpPages"]):
    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        assert self.view is not None
        await self.view.turn(interaction, int(self.values[0]))


class HelpPages(OwnedView):
    """The menu under a /help page that switches to another group's page."""

    def __init__(self, owner: Interaction, groups: list[CommandGroup]) -> None:
        super().__init__(owner)
        self.groups = groups
        self.menu = PageMenu(
            custom_id=PAGE_SELECT_ID,
            placeholder="Choose a group of commands",
            options=[
                discord.SelectOption(
                    label=clip(page_title(group), OPTION_TEXT),
                    value=str(index),
                    description=clip(group.description, OPTION_TEXT),
                )
                for index, group in enumerate(groups)
            ],
        )
        self.add_item(self.menu)
        self.show(0)

    def show(self, index: int) -> None:
        for option in self.menu.options:
            option.default = option.value == str(index)

    async def turn(self, interaction: Interaction, index: int) -> None:
        self.show(index)
        await interaction.response.edit_message(
            embed=render_page(interaction.client, self.groups, index), view=self
        )


class HelpCog(commands.Cog):
    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot

    @for_everyone
    @app_commands.command(name="help")
    async def help(self, interaction: Interaction) -> None:
        """What this bot's commands do, and who may use each: one page per group."""
        groups = command_groups(self.bot.tree)
        await interaction.response.send_message(
            embed=render_page(self.bot, groups, 0),
            view=HelpPages(interaction, groups),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(HelpCog(bot))
