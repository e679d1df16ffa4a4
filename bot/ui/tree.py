"""The command tree with the bot's single error path.

Services raise `UserFacingError`, the Runway client raises `RunwayError`; both carry a
message for the member. Anything else is a bug: it is logged with a short id and the
member sees only that id, so a report can be matched to the log.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.runway.errors import BadRequestError, RunwayError

if TYPE_CHECKING:
    from bot.runway_bot import RunwayCharactersBot

log = logging.getLogger(__name__)


class ErrorReportingTree(app_commands.CommandTree["RunwayCharactersBot"]):
    async def on_error(
        self,
        interaction: discord.Interaction[RunwayCharactersBot],
        error: app_commands.AppCommandError,
    ) -> None:
        await report_error(interaction, error)


async def report_error(
    interaction: discord.Interaction[RunwayCharactersBot], error: BaseException
) -> None:
    """Tell the member what went wrong, ephemerally; used by commands, modals and views."""
    await tell_privately(interaction, interaction.client.embeds.error(describe(interaction, error)))


async def tell_privately(
    interaction: discord.Interaction[RunwayCharactersBot], embed: discord.Embed
) -> None:
    """`embed` for the member alone: as the response, or as a followup once there is one."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException:
        log.warning("could not tell the member about an error", exc_info=True)


def describe(interaction: discord.Interaction[RunwayCharactersBot], error: BaseException) -> str:
    """The member's message for `error`; unexpected errors are logged under an id."""
    cause: BaseException = error
    if isinstance(error, app_commands.CommandInvokeError):
        cause = error.original
    elif isinstance(error, app_commands.TransformerError) and error.__cause__ is not None:
        cause = error.__cause__
    if isinstance(cause, UserFacingError):
        return cause.user_message
    if isinstance(cause, BadRequestError):
        return cause.describe()
    if isinstance(cause, RunwayError):
        return cause.user_message
    if isinstance(cause, app_commands.MissingPermissions):
        needed = ", ".join(p.replace("_", " ").title() for p in cause.missing_permissions)
        return f"You need the {needed} permission for this."
    if isinstance(cause, app_commands.NoPrivateMessage):
        return "This command works only inside a server."
    if isinstance(cause, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {cause.retry_after:.0f} s."
    if isinstance(cause, app_commands.CheckFailure | app_commands.TransformerError):
        return str(cause)
    incident = secrets.token_hex(4)
    command = interaction.command.qualified_name if interaction.command else "?"
    log.error("unexpected error %s in /%s", incident, command, exc_info=cause)
    return (
        "Something went wrong on the bot's side. If it keeps happening, "
        f"give an admin this id: `{incident}`."
    )
