"""Every slash command says who may use it, so /help never files one under the wrong people.

Discord's default permissions cannot say it for subcommands, so a command without its own
`@for_everyone` / `@for_managers` / `@for_admins` would be listed for everyone: this test
names any such command (a new cog's, say) before /help shows it wrongly.
"""

from __future__ import annotations

import importlib
import inspect

from discord.ext import commands

from bot.runway_bot import EXTENSIONS
from cogs.command_index import AUDIENCE_KEY, Audience


def test_every_command_of_every_extension_declares_its_audience() -> None:
    seen: list[str] = []
    undeclared: list[str] = []
    for extension in EXTENSIONS:
        module = importlib.import_module(extension)
        for cog in vars(module).values():
            if not (inspect.isclass(cog) and issubclass(cog, commands.Cog)):
                continue
            if cog.__module__ != module.__name__:
                continue
            for command in cog.__cog_app_commands__:
                name = f"{extension}: {command.qualified_name}"
                seen.append(name)
                if not isinstance(command.extras.get(AUDIENCE_KEY), Audience):
                    undeclared.append(name)
    assert {"cogs.help: help", "cogs.avatar: create", "cogs.quota: set"} <= set(seen)
    assert undeclared == []
