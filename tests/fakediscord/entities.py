"""The people and places of a fake Discord: users, guilds, roles, channels, members.

Tests create these through the scenario API (`FakeDiscord.create_guild`, `.create_member`)
and pass them back when they act (`invoke(..., guild=g, member=m)`). They are plain
mutable records; everything Discord-shaped about them is produced in `payloads.py`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime


class Permission(enum.IntFlag):
    """Discord's permission bits that the bot and its tests care about."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EXTERNAL_APPS = 1 << 50


ALL_PERMISSIONS = (1 << 51) - 1
# What @everyone may do in a freshly made server.
DEFAULT_EVERYONE = (
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.USE_EXTERNAL_APPS
)
# What a bot invited with the usual "send messages, embed, attach" scopes gets.
DEFAULT_BOT = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_APPLICATION_COMMANDS
)


# Without Send Messages, Discord also withholds these in the channel (implicit permissions).
NEEDS_SEND_MESSAGES = (
    Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.MENTION_EVERYONE
    | Permission.SEND_TTS_MESSAGES
)


class ChannelType(enum.IntEnum):
    GUILD_TEXT = 0
    DM = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class User:
    """A Discord account. `dms_open=False` makes DMs to it fail with 50007."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    dms_open: bool = True
    locale: str = "en-US"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class Overwrite:
    """A channel's permission overwrite for a role (type 0) or a member (type 1)."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass(eq=False)
class Channel:
    """A guild text channel, or a DM channel between the bot and one user."""

    id: int
    type: ChannelType
    name: str | None = None
    guild_id: int | None = None
    recipient: User | None = None
    position: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass(eq=False)
class Member:
    """A user's membership in one guild."""

    user: User
    guild: Guild
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: datetime = field(default_factory=utcnow)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def roles(self) -> list[Role]:
        return [role for role in self.guild.roles if role.id in self.role_ids]

    @property
    def permissions(self) -> int:
        """Guild-level permissions, as Discord computes them (no channel overwrites here)."""
        if self.guild.owner_id == self.user.id:
            return ALL_PERMISSIONS
        value = int(self.guild.everyone.permissions)
        for role in self.roles:
            value |= int(role.permissions)
        if value & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        return value

    def has(self, permissions: int) -> bool:
        return self.permissions & permissions == permissions

    def permissions_in(self, channel: Channel) -> int:
        """Permissions in `channel`, with its overwrites applied as Discord applies them."""
        value = self.permissions
        if value == ALL_PERMISSIONS:
            return value
        by_id = {overwrite.id: overwrite for overwrite in channel.overwrites}
        everyone = by_id.get(self.guild.id)
        if everyone is not None:
            value = (value & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in self.role_ids:
            overwrite = by_id.get(role_id)
            if overwrite is not None and overwrite.type == 0:
                allow |= overwrite.allow
                deny |= overwrite.deny
        value = (value & ~deny) | allow
        own = by_id.get(self.user.id)
        if own is not None and own.type == 1:
            value = (value & ~own.deny) | own.allow
        if not value & Permission.VIEW_CHANNEL:
            return 0
        if not value & Permission.SEND_MESSAGES:
            value &= ~NEEDS_SEND_MESSAGES
        return value


UPLOAD_LIMITS = {
    0: 10 * 1024 * 1024,
    1: 10 * 1024 * 1024,
    2: 50 * 1024 * 1024,
    3: 100 * 1024 * 1024,
}


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    roles: list[Role] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    locale: str = "en-US"
    features: list[str] = field(default_factory=list)
    system_channel_id: int | None = None
    premium_tier: int = 0
    """Its boost level; level 2 and 3 raise what may be uploaded in it."""

    @property
    def upload_limit(self) -> int:
        """Bytes one message may upload here: 10 MiB, 50 MiB at boost level 2, 100 MiB at
        level 3 (Discord's support article "Server Boosting FAQ", perks by level)."""
        return UPLOAD_LIMITS[self.premium_tier]

    @property
    def everyone(self) -> Role:
        return next(role for role in self.roles if role.id == self.id)

    @property
    def text_channel(self) -> Channel:
        """The channel commands are run in unless a test says otherwise."""
        return self.channels[0]

    def role(self, name: str) -> Role:
        for role in self.roles:
            if role.name == name:
                return role
        raise KeyError(f"guild {self.name!r} has no role {name!r}")


@dataclass(frozen=True)
class Attachment:
    """A file a member attaches to a command option (its bytes are served by the fake)."""

    filename: str
    data: bytes
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    description: str | None = None
