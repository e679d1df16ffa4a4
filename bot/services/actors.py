"""Who is asking, and whether they may manage a server's avatars.

The cog describes the member in plain data (their id, whether Discord grants them Manage
Server, their role ids); the rule about what that allows lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.errors import NotAllowed
from bot.storage import GuildSettings, GuildSettingsRepository


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    manages_guild: bool = False
    role_ids: frozenset[int] = field(default_factory=frozenset)


class Permissions:
    def __init__(self, guilds: GuildSettingsRepository) -> None:
        self._guilds = guilds

    async def require_manager(self, guild_id: int, actor: Actor, *, doing: str) -> GuildSettings:
        """Managing avatars needs Manage Server, or the role an admin chose for it."""
        settings = await self._guilds.get(guild_id)
        if actor.manages_guild:
            return settings
        role = settings.manager_role_id
        if role is not None and role in actor.role_ids:
            return settings
        also = f" or the <@&{role}> role" if role is not None else ""
        raise NotAllowed(f"{doing} needs the Manage Server permission{also}.")

    async def require_video_maker(self, guild_id: int, actor: Actor) -> GuildSettings:
        """Avatar videos are posted for the whole channel to see and cost Runway credits:
        managers may always ask for them, other members only with the role an admin chose."""
        settings = await self._guilds.get(guild_id)
        managers = (settings.manager_role_id, settings.video_role_id)
        if actor.manages_guild or any(role in actor.role_ids for role in managers if role):
            return settings
        if settings.video_role_id is not None:
            raise NotAllowed(
                f"Asking avatars for videos here needs the <@&{settings.video_role_id}> role "
                "(or the right to manage avatars)."
            )
        raise NotAllowed(
            "Only members who manage avatars may ask them for videos here. An admin can open "
            "it to a role with `/avatar permissions video_role`."
        )

    @staticmethod
    def require_admin(actor: Actor, *, doing: str) -> None:
        """Settings that decide who may manage avatars stay with Manage Server itself."""
        if not actor.manages_guild:
            raise NotAllowed(f"{doing} needs the Manage Server permission.")
