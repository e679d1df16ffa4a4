"""Pieces every cog uses: who the member is, avatar options, and safe echoing of user text.

`plain` (escaping and cutting what a member or Runway wrote) lives with Discord's other
limits in `bot.ui.fit`; it is re-exported here because every cog needs it.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.errors import NotAllowed
from bot.runway import catalog
from bot.runway_bot import RunwayCharactersBot
from bot.services.actors import Actor
from bot.storage import Avatar, AvatarStatus, ReviewState
from bot.ui.fit import choices, plain

__all__ = [
    "NO_MENTIONS",
    "AvatarOption",
    "AvatarTransformer",
    "Interaction",
    "actor_of",
    "guild_id_of",
    "plain",
    "status_label",
]

Interaction = discord.Interaction[RunwayCharactersBot]
NO_MENTIONS = discord.AllowedMentions.none()


def guild_id_of(interaction: Interaction) -> int:
    if interaction.guild_id is None:
        raise NotAllowed("This command works only inside a server.")
    return interaction.guild_id


def actor_of(interaction: Interaction) -> Actor:
    """The member as plain data for the services: id, Manage Server, roles.

    Manage Server comes from the permissions Discord resolved for this interaction, not
    from the bot's role cache, which may not know a role created a moment ago.
    """
    user = interaction.user
    if isinstance(user, discord.Member):
        return Actor(
            user_id=user.id,
            manages_guild=interaction.permissions.manage_guild,
            role_ids=frozenset(role.id for role in user.roles),
        )
    return Actor(user_id=user.id)


def status_label(avatar: Avatar) -> str:
    if avatar.status is AvatarStatus.PROCESSING:
        return "⏳ processing"
    if avatar.status is AvatarStatus.FAILED:
        return "❌ failed"
    if avatar.review_state is ReviewState.PENDING:
        return "🕒 awaiting review"
    if avatar.review_state is ReviewState.REJECTED:
        return "🚫 rejected"
    return "✅ ready"


class AvatarTransformer(app_commands.Transformer):
    """Turns the avatar option (an autocomplete id or a typed name) into this server's
    avatar; another server's avatar is never found, whatever is typed."""

    def __init__(self, *, usable_only: bool = False) -> None:
        self.usable_only = usable_only

    @property
    def min_value(self) -> int:
        return 1

    @property
    def max_value(self) -> int:
        """An avatar's id or its name: Discord stops anything longer than a name."""
        return catalog.AVATAR_NAME_MAX

    async def transform(self, interaction: Interaction, value: str) -> Avatar:  # type: ignore[override]
        return await interaction.client.services.avatars.resolve(guild_id_of(interaction), value)

    async def autocomplete(  # type: ignore[override]
        self, interaction: Interaction, value: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        try:
            avatars = await interaction.client.services.avatars.search(
                interaction.guild_id, value, usable_only=self.usable_only
            )
        except Exception:  # autocomplete must never raise: Discord shows "loading failed"
            return []
        return choices(
            (f"{avatar.name} · {status_label(avatar)}", str(avatar.id)) for avatar in avatars
        )


AvatarOption = app_commands.Transform[Avatar, AvatarTransformer]
