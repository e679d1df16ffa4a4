"""Who each slash command is for, declared beside it, and the command list /help reads.

Discord can hide a top-level command behind default permissions, but not a subcommand, and
most of this bot's commands are subcommands whose rules live in the services (Manage Server,
or the avatar manager role an admin chose). So each command declares its audience with one
of the decorators here, and /help and the welcome message read the registered command tree:
neither can name a command that does not exist, nor leave out one that does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

import discord
from discord import app_commands

AUDIENCE_KEY: Final = "audience"


class Audience(StrEnum):
    EVERYONE = "everyone"
    MANAGERS = "managers"
    """Manage Server, or the avatar manager role chosen with /avatar permissions."""
    ADMINS = "admins"
    """Manage Server."""


CommandT = TypeVar("CommandT", bound=app_commands.Command[Any, Any, Any])


def audience(who: Audience) -> Callable[[CommandT], CommandT]:
    """Declare who may use a command; put it above `@app_commands.command`."""

    def mark(command: CommandT) -> CommandT:
        command.extras[AUDIENCE_KEY] = who
        return command

    return mark


for_everyone = audience(Audience.EVERYONE)
for_managers = audience(Audience.MANAGERS)
for_admins = audience(Audience.ADMINS)


@dataclass(frozen=True, slots=True)
class CommandInfo:
    name: str
    """The full name, as typed after the slash: "avatar create"."""
    description: str
    audience: Audience
    declared: bool
    """Whether the command declares its audience (otherwise it is read from its default
    permissions, which say nothing about a subcommand)."""


@dataclass(frozen=True, slots=True)
class CommandGroup:
    """The commands under one top-level name, or (name None) the top-level commands."""

    name: str | None
    description: str
    commands: tuple[CommandInfo, ...]


def _info(command: app_commands.Command[Any, Any, Any]) -> CommandInfo:
    declared = command.extras.get(AUDIENCE_KEY)
    if isinstance(declared, Audience):
        who = declared
    else:
        root = command.root_parent or command
        needed = root.default_permissions
        who = Audience.ADMINS if needed is not None and needed.value else Audience.EVERYONE
    return CommandInfo(
        name=command.qualified_name,
        description=command.description,
        audience=who,
        declared=isinstance(declared, Audience),
    )


def _walk(group: app_commands.Group) -> list[CommandInfo]:
    found: list[CommandInfo] = []
    for child in group.commands:
        if isinstance(child, app_commands.Group):
            found.extend(_walk(child))
        else:
            found.append(_info(child))
    return found


def command_groups(tree: app_commands.CommandTree[Any]) -> list[CommandGroup]:
    """The registered slash commands: first the top-level ones, then each group's, by name."""
    top = tree.get_commands(type=discord.AppCommandType.chat_input)
    singles = sorted(
        (_info(command) for command in top if isinstance(command, app_commands.Command)),
        key=lambda info: info.name,
    )
    groups = [
        CommandGroup(
            name=group.name,
            description=group.description,
            commands=tuple(sorted(_walk(group), key=lambda info: info.name)),
        )
        for group in sorted(
            (item for item in top if isinstance(item, app_commands.Group)),
            key=lambda item: item.name,
        )
    ]
    general = CommandGroup(
        name=None,
        description="Getting started, and the commands outside any group.",
        commands=tuple(singles),
    )
    return [general, *groups] if singles else groups


def all_commands(tree: app_commands.CommandTree[Any]) -> list[CommandInfo]:
    return [info for group in command_groups(tree) for info in group.commands]


def command_ref(tree: app_commands.CommandTree[Any], name: str) -> str:
    """`/name` for a registered command; LookupError names one that is not (a renamed one)."""
    if name not in {info.name for info in all_commands(tree)}:
        raise LookupError(f"/{name} is not a registered command")
    return f"`/{name}`"
