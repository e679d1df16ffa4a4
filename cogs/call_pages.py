"""How a past call shows in Discord: its transcript (inline or attached), how it went, and a
Recording button that fetches a fresh link from Runway on each press.

Shared by the summary DM, `/session history`, the admins' `/calls lookup` and the moderation
log. Nothing here stores what was said: each page asks `ConversationService` again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import discord

from bot.runway_bot import RunwayCharactersBot
from bot.services.conversations import Fetched, is_call
from bot.services.durations import duration_text
from bot.storage import Session
from bot.ui.transcripts import Rendered, render
from cogs.persistent import PersistentButton
from cogs.shared import NO_MENTIONS, Interaction, actor_of, plain
from cogs.views import OwnedView

log = logging.getLogger(__name__)

END_WORDS = {
    "member_ended": "you ended the call",
    "completed": "the call ended",
    "time_limit": "the time limit was reached (Runway ends calls at about 5 minutes)",
    "failed": "Runway reported a failure; it costs nothing",
    "cancelled": "the session was cancelled",
    "never_ready": "the call was never joined or Runway never got ready; it costs nothing",
    "start_failed": "the session could not be started; it costs nothing",
    "abandoned": "the session was abandoned",
}
RECORDING_LABEL = "Recording"


def how_it_ended(session: Session) -> str:
    return END_WORDS.get(session.end_reason.value if session.end_reason else "", "it ended")


@dataclass(frozen=True, slots=True)
class CallPage:
    embed: discord.Embed
    file: discord.File | None


async def transcript_of(
    bot: RunwayCharactersBot, session: Session, *, member: str, as_file: bool = False
) -> tuple[Fetched, Rendered | None]:
    """The call's transcript fetched from Runway now, rendered with `member` as the member's
    name (as a file whatever its length with `as_file`); or why there is none."""
    fetched = await bot.services.conversations.transcript(session)
    if fetched.transcript is None:
        return fetched, None
    started = datetime.fromtimestamp(session.created_at, UTC)
    heading = (
        f"Call with {session.avatar_label} on {started:%Y-%m-%d %H:%M} UTC, "
        f"{duration_text(session.used_seconds or 0)}"
    )
    rendered = render(
        fetched.transcript,
        member=member,
        avatar=session.avatar_label,
        heading=heading,
        as_file=as_file,
    )
    return fetched, rendered


def transcript_file_name(session: Session) -> str:
    safe = re.sub(r"[^A-Za-z0-9]+", "-", session.avatar_label).strip("-").lower() or "call"
    return f"transcript-{safe}-{session.id}.txt"


async def call_page(
    bot: RunwayCharactersBot,
    session: Session,
    *,
    title: str,
    member_name: str,
    show_member: bool,
    footer: str | None = None,
) -> CallPage:
    """One call as a page of a history or a look-up."""
    embed = bot.embeds.make(title, footer=footer)
    if show_member:
        embed.add_field(name="Member", value=f"<@{session.member_id}>")
    embed.add_field(name="Avatar", value=plain(session.avatar_label))
    embed.add_field(name="When", value=f"<t:{session.created_at}:f>")
    embed.add_field(name="Length", value=duration_text(session.used_seconds or 0))
    embed.add_field(name="How it ended", value=how_it_ended(session), inline=False)
    if not is_call(session):
        embed.description = "Nobody joined this call, so nothing was said."
        return CallPage(embed, None)
    fetched, rendered = await transcript_of(bot, session, member=member_name)
    if rendered is None:
        embed.description = fetched.problem
        return CallPage(embed, None)
    if rendered.inline is not None:
        embed.description = rendered.inline
        return CallPage(embed, None)
    embed.description = "The transcript is long, so it is attached as a text file."
    return CallPage(embed, rendered.attachment(transcript_file_name(session)))


async def offers_recording(bot: RunwayCharactersBot, session: Session) -> bool:
    if not is_call(session):
        return False
    settings = await bot.services.conversations.settings(session.guild_id)
    return settings.supported and settings.recordings


async def send_recording(interaction: Interaction, session_id: int) -> None:
    """Fetch the call's recording link from Runway now and show it to the presser only.
    Every refusal and fault is answered by the caller's error path (the button's, the
    pager's), ephemerally."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    link = await interaction.client.services.conversations.recording(
        session_id, actor_of(interaction), interaction.guild_id
    )
    embed = interaction.client.embeds.make(
        "Recording of the call",
        f"[Download the recording]({link.url})\n\nThis link works until at least "
        f"<t:{link.expires_at}:f>. Press **{RECORDING_LABEL}** again for a new one.",
    )
    await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)


class RecordingButton(PersistentButton, prefix="call-recording"):
    """Recording, under a call's summary DM: persistent, so it works after a restart, and for
    as long as Runway keeps the conversation. Each press fetches a fresh link."""

    LABEL = RECORDING_LABEL
    EMOJI = "🎧"

    async def pressed(self, interaction: Interaction) -> None:
        await send_recording(interaction, self.target_id)


class CallPager(OwnedView):
    """Previous / next through calls, one per page, each fetched from Runway when shown."""

    def __init__(
        self,
        owner: Interaction,
        calls: list[Session],
        *,
        title: str,
        member_name: str,
        show_member: bool,
    ) -> None:
        super().__init__(owner, timeout=600.0)
        self.calls = calls
        self.title = title
        self.member_name = member_name
        self.show_member = show_member
        self.page = 0
        self.recording = discord.ui.Button[CallPager](
            label=RECORDING_LABEL, emoji="🎧", style=discord.ButtonStyle.secondary
        )
        self.recording.callback = self._recording  # type: ignore[method-assign, assignment]

    async def show(self, interaction: Interaction) -> None:
        """Draw the current page in the command's reply (or the pressed message)."""
        bot = interaction.client
        session = self.calls[self.page]
        page = await call_page(
            bot,
            session,
            title=self.title,
            member_name=self.member_name,
            show_member=self.show_member,
            footer=f"Call {self.page + 1} of {len(self.calls)}, newest first",
        )
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= len(self.calls) - 1
        if self.recording in self.children:
            self.remove_item(self.recording)
        if await offers_recording(bot, session):
            self.add_item(self.recording)
        await interaction.edit_original_response(
            content=None,
            embed=page.embed,
            attachments=[page.file] if page.file is not None else [],
            view=self,
            allowed_mentions=NO_MENTIONS,
        )

    @discord.ui.button(label="Newer", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: Interaction, _: discord.ui.Button[CallPager]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Older", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: Interaction, _: discord.ui.Button[CallPager]) -> None:
        await self._turn(interaction, +1)

    async def _turn(self, interaction: Interaction, step: int) -> None:
        await interaction.response.defer()  # fetching the transcript may take a moment
        self.page = min(max(0, self.page + step), len(self.calls) - 1)
        await self.show(interaction)

    async def _recording(self, interaction: Interaction) -> None:
        await send_recording(interaction, self.calls[self.page].id)
