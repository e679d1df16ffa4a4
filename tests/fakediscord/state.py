"""Everything the fake Discord knows, shared by its REST routes, gateway and scenario API."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fakediscord.commands import CommandRegistry
from tests.fakediscord.entities import (
    DEFAULT_BOT,
    DEFAULT_EVERYONE,
    UPLOAD_LIMITS,
    Channel,
    ChannelType,
    Guild,
    Member,
    Role,
    User,
)
from tests.fakediscord.ids import Snowflakes
from tests.fakediscord.interactions import InteractionStore
from tests.fakediscord.messages import MessageStore
from tests.fakediscord.ratelimits import RateLimits
from tests.fakediscord.sharding import SessionStarts


@dataclass(frozen=True)
class Violation:
    """A request real Discord would have refused, with the reasons."""

    method: str
    path: str
    template: str | None
    problems: tuple[str, ...]
    body: Any = None

    def __str__(self) -> str:
        where = f"{self.method} {self.path}"
        if self.template and self.template != self.path:
            where += f" ({self.template})"
        return where + "\n" + "\n".join(f"    {problem}" for problem in self.problems)


@dataclass
class RestCall:
    """One REST request as the bot sent it, and what the fake answered."""

    method: str
    path: str
    template: str | None
    query: dict[str, str]
    body: Any
    uploads: int
    at: float
    status: int = 0

    def matches(self, method: str, template: str) -> bool:
        return self.method == method.upper() and template in (self.template, self.path)


@dataclass
class DiscordState:
    base_url: str
    ack_deadline: float = 3.0
    token_lifetime: float = 15 * 60.0
    token: str | None = None
    ids: Snowflakes = field(default_factory=Snowflakes)
    guilds: dict[int, Guild] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    dm_channels: dict[int, Channel] = field(default_factory=dict)
    bot_members: dict[int, Member] = field(default_factory=dict)
    blobs: dict[int, tuple[bytes, str | None]] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    fake_problems: list[str] = field(default_factory=list)
    calls: list[RestCall] = field(default_factory=list)
    ratelimits: RateLimits = field(default_factory=RateLimits)
    interactions: InteractionStore = field(default_factory=InteractionStore)
    session_starts: SessionStarts = field(default_factory=SessionStarts)
    nonces: dict[tuple[int, int, str], tuple[int, float]] = field(default_factory=dict)
    """(channel, author, nonce) -> (message id, when): what `enforce_nonce` dedupes."""
    nonce_window: float = 300.0

    def __post_init__(self) -> None:
        self.bot_user = User(id=self.ids.next(), username="Fake Bot", bot=True)
        self.users[self.bot_user.id] = self.bot_user
        self.application_id = self.bot_user.id
        self.messages = MessageStore(self.ids, self.base_url)
        self.commands = CommandRegistry(self.ids, self.application_id)
        self.started = time.monotonic()

    def upload_limit(self, channel_id: str | None) -> int:
        """What one message may upload in this channel: its guild's limit (by boost level);
        10 MiB anywhere else (DMs, interaction responses outside a guild)."""
        channel = None if channel_id is None else self.channels.get(int(channel_id))
        guild = None
        if channel is not None and channel.guild_id is not None:
            guild = self.guilds.get(channel.guild_id)
        return UPLOAD_LIMITS[0] if guild is None else guild.upload_limit

    def accept_token(self, token: str) -> bool:
        return bool(token) and (self.token is None or token == self.token)

    # --- entities ------------------------------------------------------------

    def new_user(self, username: str, **options: Any) -> User:
        user = User(id=self.ids.next(), username=username, **options)
        self.users[user.id] = user
        return user

    def new_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        locale: str = "en-US",
        everyone_permissions: int = int(DEFAULT_EVERYONE),
        bot_permissions: int = int(DEFAULT_BOT),
        guild_id: int | None = None,
        system_channel: bool = True,
        bot_joined_at: datetime | None = None,
        premium_tier: int = 0,
    ) -> Guild:
        """A guild with a #general channel (its system channel unless `system_channel` is
        False) and the bot in it, since `bot_joined_at` (default: now)."""
        guild_id = guild_id or self.ids.next()
        owner = owner or self.new_user(f"owner-{guild_id % 10_000}")
        guild = Guild(
            id=guild_id, name=name, owner_id=owner.id, locale=locale, premium_tier=premium_tier
        )
        guild.roles.append(
            Role(id=guild_id, guild_id=guild_id, name="@everyone", permissions=everyone_permissions)
        )
        bot_role = Role(
            id=self.ids.next(),
            guild_id=guild_id,
            name=self.bot_user.username,
            permissions=bot_permissions,
            position=1,
            managed=True,
        )
        guild.roles.append(bot_role)
        channel = Channel(
            id=self.ids.next(), type=ChannelType.GUILD_TEXT, name="general", guild_id=guild_id
        )
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        guild.system_channel_id = channel.id if system_channel else None
        guild.members[owner.id] = Member(user=owner, guild=guild)
        bot_member = Member(user=self.bot_user, guild=guild, role_ids=[bot_role.id])
        if bot_joined_at is not None:
            bot_member.joined_at = bot_joined_at
        guild.members[self.bot_user.id] = bot_member
        self.bot_members[guild_id] = bot_member
        self.guilds[guild_id] = guild
        return guild

    def add_text_channel(self, guild: Guild, name: str) -> Channel:
        channel = Channel(
            id=self.ids.next(),
            type=ChannelType.GUILD_TEXT,
            name=name,
            guild_id=guild.id,
            position=len(guild.channels),
        )
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        return channel

    def dm_channel(self, user: User) -> Channel:
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = Channel(id=self.ids.next(), type=ChannelType.DM, recipient=user)
            self.dm_channels[user.id] = channel
            self.channels[channel.id] = channel
        return channel

    def bot_permissions_in(self, channel: Channel) -> int:
        """What the bot may do in `channel`, overwrites applied (everything in its own DMs)."""
        if channel.guild_id is None:
            return (1 << 51) - 1
        return self.bot_members[channel.guild_id].permissions_in(channel)
