"""Discord-shaped JSON for the fake's entities, as the gateway and REST send them.

Shapes follow Discord's documented objects (and the response schemas of its OpenAPI
description, which the self-tests hold the fake to), so discord.py parses them exactly
as it would parse the real thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.fakediscord.entities import Channel, ChannelType, Guild, Member, Overwrite, Role, User
from tests.fakediscord.ids import snowflake_time

Json = dict[str, Any]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def user_payload(user: User) -> Json:
    data: Json = {
        "id": str(user.id),
        "username": user.username,
        "avatar": None,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "global_name": user.global_name,
        "primary_guild": None,
    }
    if user.bot:
        data["bot"] = True
    return data


def current_user_payload(user: User) -> Json:
    """`GET /users/@me` for the bot account: the user plus its private fields."""
    return {**user_payload(user), "mfa_enabled": False, "locale": user.locale, "verified": True}


def role_payload(role: Role, bot_id: int | None = None) -> Json:
    data: Json = {
        "id": str(role.id),
        "name": role.name,
        "description": None,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(int(role.permissions)),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
    }
    if role.managed and bot_id is not None:
        data["tags"] = {"bot_id": str(bot_id)}
    return data


def member_payload(
    member: Member, *, with_permissions: bool = False, permissions: int | None = None
) -> Json:
    """A guild member; an interaction's carries its permissions (in the interaction's channel,
    when `permissions` gives them)."""
    data: Json = {
        "user": user_payload(member.user),
        "roles": [str(role_id) for role_id in member.role_ids],
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "joined_at": iso(member.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    elif with_permissions:
        data["permissions"] = str(member.permissions)
    return data


def channel_payload(channel: Channel, *, permissions: int | None = None) -> Json:
    if channel.type is ChannelType.DM:
        assert channel.recipient is not None
        return {
            "id": str(channel.id),
            "type": int(channel.type),
            "last_message_id": None,
            "flags": 0,
            "recipients": [user_payload(channel.recipient)],
        }
    data: Json = {
        "id": str(channel.id),
        "type": int(channel.type),
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": [overwrite_payload(o) for o in channel.overwrites],
        "topic": None,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "flags": 0,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def overwrite_payload(overwrite: Overwrite) -> Json:
    return {
        "id": str(overwrite.id),
        "type": overwrite.type,
        "allow": str(overwrite.allow),
        "deny": str(overwrite.deny),
    }


def guild_create_payload(guild: Guild, bot_member: Member, *, joined: bool = False) -> Json:
    """A GUILD_CREATE: the full guild, its channels and roles, and the bot's own member.

    `joined`: the bot has just been added to the guild. Discord then leaves `unavailable`
    out (it sends `false` for a guild coming back after an outage or on connecting), which is
    how a client tells a new guild from a known one.
    """
    data: Json = {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role_payload(role, bot_member.user.id) for role in guild.roles],
        "emojis": [],
        "stickers": [],
        "features": list(guild.features),
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None
        if guild.system_channel_id is None
        else str(guild.system_channel_id),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_members": 500000,
        "vanity_url_code": None,
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": 0,
        "preferred_locale": guild.locale,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "incidents_data": None,
        "joined_at": iso(bot_member.joined_at),
        "large": False,
        "unavailable": False,
        "member_count": len(guild.members),
        "voice_states": [],
        "members": [member_payload(bot_member)],
        "channels": [channel_payload(channel) for channel in guild.channels],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }
    if joined:
        del data["unavailable"]
    return data


def partial_guild_payload(guild: Guild) -> Json:
    """The `guild` object inside an interaction."""
    return {"id": str(guild.id), "locale": guild.locale, "features": list(guild.features)}


def timestamp_of(snowflake: int) -> str:
    return iso(snowflake_time(snowflake))
