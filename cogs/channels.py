"""Channels the bot posts in: checked when an admin picks one, and every refused post told.

`require_postable` is the one check for every channel an admin picks (the review channel,
the alert channel, and the moderation log to come): it names each permission the bot lacks
there before anything is saved. `post` makes the bot's posts in such channels; when the bot
cannot post (a permission was taken away, the channel was deleted) it records what went wrong
in the audit log, which admins read with `/avatar history`, and returns it so a command can
say it too. It checks the permissions it knows of before sending, because Discord limits
how many refused requests a bot may make.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import discord

from bot.discord_permissions import PICKED_CHANNEL, ChannelPosts, listing, missing
from bot.errors import InvalidInput
from bot.runway_bot import RunwayCharactersBot
from cogs.shared import NO_MENTIONS, Interaction

log = logging.getLogger(__name__)

MISSING_ACCESS = 50001
GONE = "the channel no longer exists"


def permissions_in(
    channel: discord.abc.GuildChannel, interaction: Interaction | None = None
) -> discord.Permissions:
    """What the bot may do in `channel`: Discord's own figure when the command was run in that
    very channel, otherwise worked out from the roles and overwrites the gateway sent."""
    if interaction is not None and interaction.channel_id == channel.id:
        return interaction.app_permissions
    return channel.permissions_for(channel.guild.me)


def cannot_post(channel_id: int, lacking: list[str]) -> str:
    fix = "this permission" if len(lacking) == 1 else "these permissions"
    return (
        f"I can't post in <#{channel_id}>: I'm missing {listing(lacking)} there. In the "
        f"channel's settings (Edit Channel › Permissions), allow {fix} for me or my role."
    )


def require_postable(interaction: Interaction, channel: discord.abc.GuildChannel) -> None:
    """Refuse a channel the bot could not post every kind of its posts in, naming what is
    missing; the caller checks this before it changes anything."""
    lacking = missing(permissions_in(channel, interaction), PICKED_CHANNEL)
    if lacking:
        raise InvalidInput(f"{cannot_post(channel.id, lacking)} Then choose it again.")


def channel_health(guild: discord.Guild | None, channel_id: int) -> str:
    """The channel as a settings page shows it, with a warning when the bot cannot post there."""
    mention = f"<#{channel_id}>"
    channel = None if guild is None else guild.get_channel(channel_id)
    if guild is not None and channel is None:
        return f"{mention} ⚠️ {GONE}: choose another"
    if channel is None:
        return mention
    lacking = missing(permissions_in(channel), PICKED_CHANNEL)
    return f"{mention} ⚠️ I'm missing {listing(lacking)} there" if lacking else mention


@dataclass(frozen=True, slots=True)
class Posted:
    message: discord.Message | None
    problem: str | None = None
    """Why nothing was posted, for the member and the audit log."""


async def post(
    bot: RunwayCharactersBot,
    posts: ChannelPosts,
    *,
    guild_id: int,
    channel_id: int,
    embed: discord.Embed | None = None,
    file: discord.File | None = None,
    view: discord.ui.View | None = None,
    content: str | None = None,
    nonce: str | None = None,
) -> Posted:
    """Post in a channel an admin chose (or a command was run in); if that cannot be done,
    the audit log says why. A `nonce` makes Discord keep one message however often the same
    post is sent within a few minutes (a post retried after a restart)."""
    guild = bot.get_guild(guild_id)
    channel = None if guild is None else guild.get_channel(channel_id)
    problem: str | None = None
    if guild is not None and channel is None:
        problem = GONE
    elif channel is not None and (lacking := missing(permissions_in(channel), posts.needs)):
        problem = f"I'm missing {listing(lacking)} there"
    else:
        target = bot.get_partial_messageable(channel_id, guild_id=guild_id)
        once: dict[str, Any] = {} if nonce is None else {"nonce": nonce}
        try:
            message = await target.send(
                content=content,
                embed=embed or discord.utils.MISSING,
                file=file or discord.utils.MISSING,
                view=view or discord.utils.MISSING,
                allowed_mentions=NO_MENTIONS,
                **once,
            )
        except discord.Forbidden as refusal:
            problem = (
                "I can't see that channel"
                if refusal.code == MISSING_ACCESS
                else "Discord says I'm missing a permission there"
            )
        except discord.NotFound:
            problem = GONE
        except discord.HTTPException:
            # Discord's own trouble, not the server's settings: nothing for an admin to fix.
            log.warning("could not post %s in channel %s", posts.what, channel_id, exc_info=True)
            return Posted(None, "Discord did not take the post; it may work again later")
        else:
            return Posted(message)
    await bot.services.channel_posts.record(
        guild_id, channel_id=channel_id, what=posts.what, problem=problem
    )
    log.info("could not post %s in channel %s: %s", posts.what, channel_id, problem)
    return Posted(None, problem)
