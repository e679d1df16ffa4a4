"""Every Discord permission the bot uses, by the feature that needs it; the invite asks for
their union and nothing more.

Slash commands, their replies and follow-ups, modals and DMs need no permission in a server:
Discord grants an application's interactions their own channel. Only the bot's own posts in a
server's channels do, so each feature that posts declares here what its posts need. The invite
link, the check when an admin picks a channel, and the welcome's check all read these
declarations, so a feature that starts attaching files, say, changes all three at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Final

import discord

SCOPES: Final = ("bot", "applications.commands")


@dataclass(frozen=True, slots=True)
class ChannelPosts:
    """A kind of message the bot posts in a server's channel, and what posting it takes."""

    what: str
    """As a sentence names it: "a budget alert"."""
    needs: discord.Permissions


def _post(*, embeds: bool = False, files: bool = False) -> discord.Permissions:
    return discord.Permissions(
        view_channel=True, send_messages=True, embed_links=embeds, attach_files=files
    )


# A review post carries the avatar's picture as a file, so admins still see what they are
# approving after Runway's links to its images have expired.
REVIEW_POSTS: Final = ChannelPosts("an avatar review post", _post(embeds=True, files=True))
BUDGET_ALERTS: Final = ChannelPosts("a budget alert", _post(embeds=True))
WELCOME: Final = ChannelPosts("the welcome message", _post(embeds=True))
# An avatar video is posted as a file in the channel `/avatar say` was run in (or, when it is
# larger than the server's uploads, as a message whose button fetches a link).
VIDEO_POSTS: Final = ChannelPosts("an avatar video", _post(files=True))

FEATURES: Final = (REVIEW_POSTS, BUDGET_ALERTS, WELCOME, VIDEO_POSTS)
PICKED_CHANNEL: Final = reduce(
    discord.Permissions.__or__, (REVIEW_POSTS.needs, BUDGET_ALERTS.needs)
)
"""What a channel an admin picks (review, alerts, and the moderation log to come) must allow:
one check for all of them, so any such channel can take any of the bot's posts."""


def invite_permissions() -> discord.Permissions:
    """The union of what every feature uses: the permissions integer of the invite link."""
    return reduce(discord.Permissions.__or__, (feature.needs for feature in FEATURES))


def invite_url(client_id: int) -> str:
    """The link that adds the bot to a server, with both scopes and exactly its permissions."""
    return discord.utils.oauth_url(client_id, permissions=invite_permissions(), scopes=SCOPES)


def missing(granted: discord.Permissions, needed: discord.Permissions) -> list[str]:
    """The `needed` permissions that `granted` lacks, as Discord's settings name them.

    Without View Channel Discord withholds every other permission in the channel, and without
    Send Messages it withholds Embed Links and Attach Files, so only that first cause is
    named: the others may well be allowed, and an admin should not be sent to change them.
    """
    lacking = [name for name, wanted in needed if wanted and not getattr(granted, name)]
    for cause in ("read_messages", "send_messages"):
        if cause in lacking:
            return [label(cause)]
    return [label(name) for name in lacking]


# discord.py's names that Discord's settings show differently.
_LABELS: Final = {"read_messages": "View Channel", "manage_guild": "Manage Server"}


def label(flag: str) -> str:
    """A discord.py permission name as Discord's settings show it: 'attach_files' is
    'Attach Files', 'read_messages' is 'View Channel'."""
    return _LABELS.get(flag) or flag.replace("_", " ").title()


def listing(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C', each in bold."""
    bold = [f"**{name}**" for name in names]
    return bold[0] if len(bold) == 1 else f"{', '.join(bold[:-1])} and {bold[-1]}"
