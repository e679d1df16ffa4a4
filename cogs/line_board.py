"""What members in the waiting line see: their place, updated; their turn; why they left.

A member who joined the line through this process sees their place in the reply to their
`/session start`, edited as the line moves. Discord lets a bot edit that reply for 15
minutes; before that runs out the reply says so, and the place moves to a DM the bot keeps
editing (its ids are stored with the place, so any process can). A member whose reply this
process does not have (it joined before a restart) gets that DM at once. Their turn comes
as a DM with the call's link (in the reply instead, while it lasts, if their DMs are closed);
a member who cannot be reached (left the server, DMs closed) loses the slot to the next.

Which replies this process can edit is the only thing kept in memory, and only for showing:
the line itself is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import discord

from bot.runway_bot import RunwayCharactersBot
from bot.services.background import Background
from bot.services.durations import duration_text
from bot.services.sessions import StartedSession
from bot.services.tracker import READY_TIMEOUT_SECONDS
from bot.services.waiting_line import Offer, Place, Removed
from bot.storage.waiting_line import LineEntry
from cogs.persistent import PersistentButton, persistent_view
from cogs.shared import NO_MENTIONS, Interaction

log = logging.getLogger(__name__)

REPLY_EDITABLE_SECONDS: Final = 14 * 60
"""How long the place is shown in the command's reply (Discord allows 15 minutes)."""
REFRESH_SECONDS: Final = 15.0
FIRST_REFRESH_SECONDS: Final = 1.0
UNKNOWN_MEMBER: Final = 10007
HANDED_OVER: Final = (
    "This message stops updating here (Discord lets a reply change for 15 minutes only): "
    "I'll keep your place up to date in a DM."
)
DMS_CLOSED: Final = (
    "Discord lets this message change for 15 minutes only, and your DMs are closed, so I "
    "could not keep you posted or send you the link when your turn comes: you left the "
    "waiting line. Open your DMs for this server, then run `/session start` again."
)

Key = tuple[int, int]
"""(server, member)."""


def place_text(place: Place) -> str:
    """E.g. "All 5 call slots are busy. You are #3 in line, about 6 minutes." and what next."""
    busy = (
        "The one call slot is busy."
        if place.slots == 1
        else f"All {place.slots} call slots are busy."
    )
    wait = "about 1 minute" if place.minutes == 1 else f"about {place.minutes} minutes"
    return (
        f"{busy} You are #{place.position} in line, {wait}.\n"
        f"When your turn comes I'll DM you the link for your call with "
        f"**{_label(place.entry)}**, and the slot is held for you for "
        f"{duration_text(READY_TIMEOUT_SECONDS)}. **Leave** or `/session end` takes you out "
        "of the line; so do leaving the server or closing your DMs."
    )


def _label(entry: LineEntry) -> str:
    return discord.utils.escape_markdown(discord.utils.escape_mentions(entry.avatar_label))


@dataclass(slots=True)
class _Reply:
    """A member's `/session start` reply that this process can still edit."""

    interaction: Interaction
    since: float = field(default_factory=time.monotonic)
    shown: str = ""
    lost: bool = False
    """Discord refused an edit (the token expired early, the reply was dismissed)."""

    @property
    def editable(self) -> bool:
        return not self.lost and time.monotonic() - self.since < REPLY_EDITABLE_SECONDS


class LeaveLineButton(PersistentButton, prefix="line-leave"):
    """Leave, on a member's place in line (in the reply or the DM); works after a restart.
    It carries the server's id: the DM it may sit in belongs to no server."""

    LABEL = "Leave the line"

    async def pressed(self, interaction: Interaction) -> None:
        left = await interaction.client.services.line.leave(self.target_id, interaction.user.id)
        text = "You left the waiting line." if left else "You are not in the waiting line any more."
        await interaction.response.edit_message(content=text, embed=None, view=None)


def leave_view(guild_id: int) -> discord.ui.View:
    return persistent_view(LeaveLineButton(guild_id))


LinkEmbed = Callable[[StartedSession], discord.Embed]
"""The embed that carries a call's join link (the session cog's)."""


class LineBoard:
    def __init__(self, bot: RunwayCharactersBot, *, link_embed: LinkEmbed) -> None:
        self._bot = bot
        self._link_embed = link_embed
        self._replies: dict[Key, _Reply] = {}
        self._dm_shown: dict[int, str] = {}
        self._notices: dict[int, tuple[int, int]] = {}
        """DMs this process sent to show places (also stored with the place, for any
        process; kept here too, for the moment between sending one and storing it)."""
        self._to_dm: set[int] = set()
        """Places whose reply can no longer show them: shown by DM from now on."""
        self._started = time.time()
        self._lock = asyncio.Lock()
        self._again = False
        self._loop = Background("line-board", self._run)
        line = bot.services.line
        line.on_offer(self.deliver)
        line.on_removed(self.removed)
        line.on_change(self.refresh)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def watch(self, interaction: Interaction, guild_id: int) -> None:
        """This reply shows the member's place from now on (set before they join the line,
        so a turn that comes at once still finds it)."""
        self._replies[(guild_id, interaction.user.id)] = _Reply(interaction)

    async def show(self, guild_id: int, member_id: int, place: Place) -> None:
        reply = self._replies.get((guild_id, member_id))
        if reply is not None:
            await self._edit_reply(reply, place_text(place), leave_view(guild_id))

    async def left(self, guild_id: int, member_id: int, text: str) -> None:
        """The member left the line some other way (`/session end`): their old reply says so."""
        reply = self._replies.pop((guild_id, member_id), None)
        if reply is not None and reply.editable:
            await self._edit_reply(reply, text, None)

    async def refresh(self) -> None:
        """Show every waiting member their place now: in their reply while it can change,
        then in a DM. A refresh asked for while one runs (a member who cannot be DMed leaves
        the line during it, say) is done right after it, not inside it."""
        if self._lock.locked():
            self._again = True
            return
        async with self._lock:
            self._again = True
            while self._again:
                self._again = False
                await self._refresh_once()

    async def _refresh_once(self) -> None:
        places = {(p.entry.guild_id, p.entry.member_id): p for p in await self._places()}
        moved: set[Key] = set()
        for key, reply in list(self._replies.items()):
            place = places.get(key)
            if place is None:
                if not reply.editable:  # served or removed long ago: told by then
                    del self._replies[key]
                continue
            if reply.editable:
                await self._edit_reply(reply, place_text(place), leave_view(key[0]))
            if not reply.editable:  # Discord's 15 minutes: the place moves to a DM
                del self._replies[key]
                self._to_dm.add(place.entry.id)
                moved.add(key)
                shown = await self._show_in_dm(place)
                await self._edit_reply(reply, HANDED_OVER if shown else DMS_CLOSED, None)
        for key, place in places.items():
            if key not in self._replies and key not in moved and self._dm_due(place):
                await self._show_in_dm(place)
        waiting = {place.entry.id for place in places.values()}
        self._to_dm &= waiting
        self._dm_shown = {k: v for k, v in self._dm_shown.items() if k in waiting}

    async def deliver(self, offer: Offer) -> bool:
        """The member's turn: the call's link by DM (or in their reply if DMs are closed)."""
        entry = offer.entry
        if not await self._still_member(entry):
            return False
        reply = self._replies.pop((entry.guild_id, entry.member_id), None)
        link = self._link_embed(offer.started)
        link.title = f"Your turn: {link.title}"
        link.description = (
            f"{link.description or ''}\nThe slot is held for you until then; after that it "
            "goes to the next member in line."
        )
        try:
            user = await self._user(entry.member_id)
            await user.send(embed=link, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            if reply is None or not reply.editable:
                return False
            link.description = "I could not DM you, so here is the link. " + (
                link.description or ""
            )
            await self._edit_reply(reply, None, None, embed=link)
            return True
        done = (
            f"Your turn came: I sent you the join link for your call with "
            f"**{_label(entry)}** by DM."
        )
        if reply is not None and reply.editable:
            await self._edit_reply(reply, done, None)
        await self._edit_dm(entry, done)
        self._notices.pop(entry.id, None)
        return True

    async def removed(self, removed: Removed) -> None:
        entry = removed.entry
        text = f"You are no longer in the waiting line for **{_label(entry)}**: {removed.reason}"
        reply = self._replies.pop((entry.guild_id, entry.member_id), None)
        if reply is not None and reply.editable:
            await self._edit_reply(reply, text, None)
            return
        if self._notice_of(entry) is not None:
            await self._edit_dm(entry, text)
            self._notices.pop(entry.id, None)
            return
        with contextlib.suppress(discord.HTTPException):
            await (await self._user(entry.member_id)).send(text, allowed_mentions=NO_MENTIONS)

    # Plumbing

    def _dm_due(self, place: Place) -> bool:
        """A place nobody's reply shows: the member joined before this process started, or
        so long ago that their reply can no longer change."""
        entry = place.entry
        return (
            entry.notice_message_id is not None
            or entry.id in self._to_dm
            or entry.joined_at < self._started
            or time.time() - entry.joined_at >= REPLY_EDITABLE_SECONDS
        )

    async def _show_in_dm(self, place: Place) -> bool:
        """The place in the member's DM; False (and out of the line) if DMs are closed."""
        entry = place.entry
        text = place_text(place)
        if self._notice_of(entry) is not None:
            if self._dm_shown.get(entry.id) != text:
                await self._edit_dm(entry, text, leave_view(entry.guild_id))
            return True
        try:
            user = await self._user(entry.member_id)
            message = await user.send(
                text, view=leave_view(entry.guild_id), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException:
            # Closed DMs take a member out of the line: their turn could not reach them.
            log.info("waiting line: member %s cannot be DMed; leaving the line", entry.member_id)
            await self._bot.services.line.leave(entry.guild_id, entry.member_id)
            return False
        self._dm_shown[entry.id] = text
        self._notices[entry.id] = (message.channel.id, message.id)
        await self._bot.services.line.note_dm(entry.id, message.channel.id, message.id)
        return True

    async def _edit_dm(
        self, entry: LineEntry, text: str, view: discord.ui.View | None = None
    ) -> None:
        notice = self._notice_of(entry)
        if notice is None:
            return
        channel_id, message_id = notice
        message = self._bot.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(content=text, view=view, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.info("waiting line: could not update the DM of member %s", entry.member_id)
            return
        self._dm_shown[entry.id] = text

    def _notice_of(self, entry: LineEntry) -> tuple[int, int] | None:
        if entry.notice_channel_id is not None and entry.notice_message_id is not None:
            return entry.notice_channel_id, entry.notice_message_id
        return self._notices.get(entry.id)

    async def _edit_reply(
        self,
        reply: _Reply,
        text: str | None,
        view: discord.ui.View | None,
        *,
        embed: discord.Embed | None = None,
    ) -> None:
        """Edit the member's reply; if Discord refuses (its 15 minutes are up, or it is
        gone), the reply is lost and the place moves to a DM."""
        shown = f"{text}|{embed is not None}|{view is not None}"
        if shown == reply.shown or reply.lost:
            return
        try:
            await reply.interaction.edit_original_response(
                content=text, embed=embed, view=view, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as refused:
            log.info("waiting line: a member's reply can no longer change (%s)", refused.status)
            reply.lost = True
            return
        reply.shown = shown

    async def _still_member(self, entry: LineEntry) -> bool:
        """False only when Discord says the member (or the bot) left the server. Any process
        may give a turn, and the server may run on another process's shard, outside this
        cache: Discord is asked either way."""
        try:
            await self._bot.http.get_member(entry.guild_id, entry.member_id)
        except discord.NotFound:
            return False
        except discord.HTTPException:
            return True  # Discord's trouble: try to deliver anyway
        return True

    async def _user(self, user_id: int) -> discord.User:
        return self._bot.get_user(user_id) or await self._bot.fetch_user(user_id)

    async def _places(self) -> list[Place]:
        return await self._bot.services.line.places()

    async def _run(self) -> None:
        # At once first: after a restart, whoever waits learns their place is kept.
        await asyncio.sleep(FIRST_REFRESH_SECONDS)
        while True:
            try:
                await self.refresh()
            except Exception:  # showing places must never stop
                log.warning("waiting line: refreshing places failed", exc_info=True)
            await asyncio.sleep(REFRESH_SECONDS)
