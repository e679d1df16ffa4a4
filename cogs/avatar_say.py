"""`/avatar say`: what a member sees while an avatar's video is made, and where it is posted.

The command itself is part of the `/avatar` group (cogs/avatar.py); this module holds its
flow and its Discord parts: the form for long texts, the member's progress reply with its
Cancel button, the review post with Approve / Reject, the channel post (the video as a file,
or a button that fetches a fresh link when the file is larger than the server takes), and
the DMs that tell a member how a video ended when its reply can no longer be edited. All
buttons are persistent (`DynamicItem`), so they work after a restart.
"""

from __future__ import annotations

import io
import logging
import re
import time
from typing import Final

import discord

from bot.clip import clip
from bot.discord_permissions import REVIEW_POSTS, VIDEO_POSTS, missing
from bot.errors import InvalidInput
from bot.runway.models import Task, TaskStatus
from bot.runway_bot import RunwayCharactersBot
from bot.services.audio import MAX_AUDIO_BYTES
from bot.services.durations import duration_text
from bot.services.videos import AudioRequest, Speech, TextRequest, too_big_audio
from bot.storage import Avatar
from bot.storage.videos import Video, VideoEnd
from bot.ui.embeds import SUCCESS, WARNING
from bot.ui.fit import BUTTON_URL, CONTENT, FIELD_VALUE, MODAL_TITLE, fill, plain
from cogs.channels import cannot_post, post
from cogs.persistent import VERDICTS, PersistentButton, VerdictButton, persistent_view
from cogs.shared import NO_MENTIONS, Interaction, actor_of, guild_id_of
from cogs.views import TextModal, replace_reply_with_error

log = logging.getLogger(__name__)

MODAL_TEXT_MAX: Final = 4000  # Discord's limit for one text input
REPLY_EDITABLE_SECONDS: Final = 14 * 60
"""An interaction's token lets its reply be edited for 15 minutes; after that, a DM."""
QUOTED_TEXT_MAX: Final = 1600
"""Of the member's text in the caption (a message holds 2,000 characters in all)."""


async def say(
    bot: RunwayCharactersBot,
    interaction: Interaction,
    avatar: Avatar,
    text: str | None,
    voice: str | None,
    audio: discord.Attachment | None,
) -> None:
    """Check what can be checked at once, then ask for the text in a form if none was given,
    or defer and make the video."""
    videos = bot.services.videos
    guild_id = guild_id_of(interaction)
    actor = actor_of(interaction)
    if text is not None and audio is not None:
        raise InvalidInput("Give the avatar either a text or a recording to speak, not both.")
    if voice is not None and audio is not None:
        raise InvalidInput("A voice applies to a text; a recording speaks in its own voice.")
    if audio is not None and audio.size > MAX_AUDIO_BYTES:
        raise InvalidInput(too_big_audio(audio.size))
    preset = await videos.precheck(guild_id, actor, avatar, text=text, voice=voice)
    require_channel(interaction)
    if text is None and audio is None:
        await interaction.response.send_modal(_script_form(bot, avatar, preset))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    speech: Speech = (
        TextRequest(text, preset) if text is not None else AudioRequest(await _read(audio))
    )
    await make(bot, interaction, avatar, speech)


async def make(
    bot: RunwayCharactersBot, interaction: Interaction, avatar: Avatar, speech: Speech
) -> None:
    """Record the request and follow it in the member's (deferred) reply."""
    shown = ""

    async def progress(step: str) -> None:
        nonlocal shown
        if step != shown:
            shown = step
            await interaction.edit_original_response(content=f"⏳ {step}")

    watcher = ReplyWatcher(interaction)
    try:
        requested = await bot.services.videos.request(
            guild_id_of(interaction),
            interaction.channel_id or 0,
            actor_of(interaction),
            avatar,
            speech,
            upload_limit=upload_limit(interaction),
            progress=progress,
            watcher=watcher,
        )
    except Exception as error:  # the progress line is replaced by the reason
        await replace_reply_with_error(interaction, error)
        return
    video = requested.video
    if requested.awaiting_approval:
        note = await request_review(bot, video)
        await interaction.edit_original_response(content=f"🕒 {note}", allowed_mentions=NO_MENTIONS)
        return
    await watcher.started(video)


def require_channel(interaction: Interaction) -> None:
    """The video is posted where the command was run: the bot must be able to post there."""
    lacking = missing(interaction.app_permissions, VIDEO_POSTS.needs)
    if lacking and interaction.channel_id is not None:
        raise InvalidInput(
            f"{cannot_post(interaction.channel_id, lacking)} Then ask again, or ask in "
            "another channel."
        )


def upload_limit(interaction: Interaction) -> int:
    """The largest file the bot may post here: what Discord says this interaction takes,
    and no more than the server's own limit."""
    limits = [interaction.filesize_limit]
    if interaction.guild is not None:
        limits.append(interaction.guild.filesize_limit)
    return max(1, min(limits))


async def _read(audio: discord.Attachment | None) -> bytes:
    assert audio is not None
    try:
        return await audio.read()
    except discord.HTTPException:
        raise InvalidInput("Discord would not hand over the recording; attach it again.") from None


def _script_form(bot: RunwayCharactersBot, avatar: Avatar, voice: str | None) -> TextModal:
    async def submitted(modal_interaction: Interaction, values: dict[str, str]) -> None:
        await modal_interaction.response.defer(ephemeral=True, thinking=True)
        await make(bot, modal_interaction, avatar, TextRequest(values["text"], voice))

    field = discord.ui.TextInput[TextModal](
        label="What should it say?",
        custom_id="text",
        style=discord.TextStyle.paragraph,
        max_length=MODAL_TEXT_MAX,
        placeholder="Welcome to the server! Here is what is new this week…",
    )
    return TextModal(
        title=fill("{} says…", avatar.name, MODAL_TITLE), fields=[field], on_submit=submitted
    )


# What the member reads while it is made

_ENDINGS: Final = {
    VideoEnd.FAILED: "❌ Runway could not make your video of **{name}**{reason}. Nothing was "
    "charged.",
    VideoEnd.CANCELLED: "🛑 Your video of **{name}** was cancelled. Nothing was charged.",
    VideoEnd.TIMED_OUT: "⌛ Runway did not finish your video of **{name}** in time, so the bot "
    "cancelled it. Nothing was charged.",
    VideoEnd.REJECTED: "🚫 An admin did not approve your video of **{name}**. Nothing was spent.",
    VideoEnd.START_FAILED: "❌ Your video of **{name}** could not be started{reason}. Nothing "
    "was charged.",
    VideoEnd.ABANDONED: "❓ The bot lost track of your video of **{name}** at Runway. Nothing "
    "was charged; ask again with `/avatar say`.",
    VideoEnd.UNPOSTABLE: "⚠️ Your video of **{name}** is ready, but I could not post it in "
    "<#{channel}>. An admin can see why in `/avatar history`.",
    VideoEnd.POSTED: "✅ Your video of **{name}** is posted in <#{channel}>.",
    VideoEnd.LINKED: "✅ Your video of **{name}** is posted in <#{channel}> as a link: it is "
    "larger than this server's uploads.",
}


def progress_line(video: Video, task: Task | None) -> str:
    name = plain(video.avatar_label)
    if task is None or task.status is TaskStatus.PENDING:
        return f"⏳ Queued at Runway: your video of **{name}** starts soon."
    if task.status is TaskStatus.THROTTLED:
        return f"⏳ Runway is busy: your video of **{name}** waits its turn."
    percent = round((task.progress or 0) * 100)
    return f"🎬 Rendering your video of **{name}**: {percent} %"


def ending_line(video: Video) -> str:
    end = video.end_reason or VideoEnd.CANCELLED
    reason = f" ({plain(video.failure, limit=300)})" if video.failure else ""
    return _ENDINGS[end].format(
        name=plain(video.avatar_label), reason=reason, channel=video.channel_id
    )


class ReplyWatcher:
    """The member's ephemeral reply, kept up to date while its 15 minutes last."""

    def __init__(self, interaction: Interaction) -> None:
        self._interaction = interaction
        self._started = time.monotonic()
        self._shown = ""
        self._over = False

    async def started(self, video: Video) -> None:
        """The first line, unless the tracker was quicker (a video Runway made at once)."""
        if not self._shown and not self._over:
            await self._show(video, progress_line(video, None))

    async def progress(self, video: Video, task: Task) -> None:
        line = progress_line(video, task)
        if line != self._shown and not self._over and self._editable:
            await self._show(video, line)

    async def ended(self, video: Video) -> bool:
        self._over = True
        if not self._editable:
            return False
        await self._interaction.edit_original_response(
            content=ending_line(video), view=None, allowed_mentions=NO_MENTIONS
        )
        return True

    async def _show(self, video: Video, line: str) -> None:
        self._shown = line
        await self._interaction.edit_original_response(
            content=line, view=persistent_view(CancelButton(video.id)), allowed_mentions=NO_MENTIONS
        )

    @property
    def _editable(self) -> bool:
        return time.monotonic() - self._started < REPLY_EDITABLE_SECONDS


async def tell_member(bot: RunwayCharactersBot, video: Video, told: bool) -> None:
    """A video ended without its reply to tell: a DM (a posted one speaks for itself)."""
    if told or video.end_reason in (VideoEnd.POSTED, VideoEnd.LINKED):
        return
    embed = bot.embeds.make(
        "Your avatar video", ending_line(video), colour=WARNING if video.failure else SUCCESS
    )
    guild = bot.get_guild(video.guild_id)
    if guild is not None:
        embed.set_footer(text=f"In {guild.name}")
    try:
        user = bot.get_user(video.member_id) or await bot.fetch_user(video.member_id)
        await user.send(embed=embed, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.info("could not DM member %s about video %s", video.member_id, video.id)


# Posting it


def caption(video: Video, seconds: float | None = None) -> str:
    """Who asked and what the avatar says (escaped, never pinging anyone), within a message."""
    name = plain(video.avatar_label)
    if video.text is None:
        length = f" {duration_text(video.audio_seconds or 0)}" if video.audio_seconds else ""
        return f"🗣️ **{name}** speaks a{length} recording from <@{video.member_id}>."
    head = f"🗣️ **{name}** says, for <@{video.member_id}>:\n"
    quoted = "\n".join(
        f"> {line}" for line in plain(video.text, limit=QUOTED_TEXT_MAX).splitlines()
    )
    return head + clip(quoted, CONTENT - len(head))


class ChannelDelivery:
    """Posts finished videos where they were asked for (the tracker's `Delivery`)."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self._bot = bot

    async def post_file(self, video: Video, data: bytes, seconds: float | None) -> int | None:
        name = re.sub(r"[^A-Za-z0-9]+", "-", video.avatar_label).strip("-").lower() or "avatar"
        file = discord.File(io.BytesIO(data), filename=f"{name}-video-{video.id}.mp4")
        return await self._post(video, caption(video, seconds), file=file)

    async def post_link(self, video: Video, *, too_large: bool) -> int | None:
        why = (
            "The video is larger than this server lets me upload"
            if too_large
            else "I could not download the video to upload it"
        )
        content = caption(video)
        content = clip(content, CONTENT - 120) + f"\n-# {why}: the button fetches a fresh link."
        return await self._post(video, content, view=persistent_view(LinkButton(video.id)))

    async def _post(
        self,
        video: Video,
        content: str,
        *,
        file: discord.File | None = None,
        view: discord.ui.View | None = None,
    ) -> int | None:
        posted = await post(
            self._bot,
            VIDEO_POSTS,
            guild_id=video.guild_id,
            channel_id=video.channel_id,
            content=content,
            file=file,
            view=view,
            nonce=f"avatar-video:{video.id}",
        )
        return None if posted.message is None else posted.message.id


# Buttons (persistent)


class CancelButton(PersistentButton, prefix="avatar-video:cancel"):
    """Stops the video at Runway; for who asked, or a manager."""

    LABEL = "Cancel"
    STYLE = discord.ButtonStyle.danger

    async def pressed(self, interaction: Interaction) -> None:
        video = await interaction.client.services.videos.cancel(
            guild_id_of(interaction), actor_of(interaction), self.target_id
        )
        await interaction.response.edit_message(
            content=ending_line(video), view=None, allowed_mentions=NO_MENTIONS
        )


class LinkButton(PersistentButton, prefix="avatar-video:link"):
    """A fresh link to a video too large to upload; Runway's links expire within a day."""

    LABEL = "Get the video"
    EMOJI = "🎬"
    STYLE = discord.ButtonStyle.primary

    async def pressed(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        url = await interaction.client.services.videos.fresh_link(
            guild_id_of(interaction), self.target_id
        )
        told = "Here is a fresh link to the video; it works for about a day."
        if len(url) > BUTTON_URL:  # Discord refuses it on a button; an embed's link holds it
            embed = interaction.client.embeds.make(
                "Your video", f"[Open the video]({url})\n\n{told}"
            )
            await interaction.followup.send(embed=embed, ephemeral=True)
            return
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Open the video", url=url))
        await interaction.followup.send(told, view=view, ephemeral=True)


class ReviewButton(VerdictButton, prefix="video-review", choices=VERDICTS):
    """Approve / Reject on a video request's review post."""

    async def pressed(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer()
        video = await bot.services.videos.review(
            guild_id_of(interaction), actor_of(interaction), self.target_id, approve=self.approve
        )
        verdict = (
            f"approved by {interaction.user.mention}: it is being made and will be posted in "
            f"<#{video.channel_id}>"
            if self.approve
            else f"rejected by {interaction.user.mention}"
        )
        await interaction.edit_original_response(
            content=f"Video request of **{plain(video.avatar_label)}** {verdict}.",
            view=None,
            allowed_mentions=NO_MENTIONS,
        )
        if not self.approve:
            await tell_member(bot, video, told=False)


async def request_review(bot: RunwayCharactersBot, video: Video) -> str:
    """Post the request in the review channel; what the member is told."""
    settings = await bot.services.guilds.get(video.guild_id)
    channel_id = settings.review_channel_id
    if channel_id is None:
        return (
            "Your video request waits for an admin's approval, but no review channel is set: "
            "an admin can set one with `/avatar permissions`. Nothing is spent before."
        )
    embed = bot.embeds.make(f"Video request: {plain(video.avatar_label)}", colour=WARNING)
    embed.add_field(name="Asked by", value=f"<@{video.member_id}>")
    embed.add_field(name="Posted in", value=f"<#{video.channel_id}>")
    if video.text is not None:
        embed.add_field(name="Text", value=plain(video.text, limit=FIELD_VALUE), inline=False)
    else:
        embed.add_field(
            name="Recording", value=duration_text(video.audio_seconds or 0), inline=False
        )
    posted = await post(
        bot,
        REVIEW_POSTS,
        guild_id=video.guild_id,
        channel_id=channel_id,
        embed=embed,
        view=ReviewButton.pair(video.id),
    )
    await bot.services.videos.set_review_message(
        video.id, None if posted.message is None else posted.message.id
    )
    if posted.message is None:
        return (
            f"Your video request waits for approval, but I could not post it in <#{channel_id}> "
            f"for review: {posted.problem}. Nothing is spent before."
        )
    return (
        f"Your video request waits for an admin's approval in <#{channel_id}>. It is posted "
        "here once approved; nothing is spent before."
    )
