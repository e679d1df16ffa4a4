"""/calls: what happens to calls' transcripts and recordings here, looking calls up for
moderation, and the waiting line for Runway's call slots. For admins (Manage Server).

Also posts each call to the moderation log when the server asks for it: one embed (who,
which avatar, how long, how it ended) with the transcript attached.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_permissions import MODERATION_LOG
from bot.runway_bot import RunwayCharactersBot
from bot.services.conversations import MAX_KEEP_DAYS, CallSettings, TranscriptSharing, is_call
from bot.services.durations import duration_text
from bot.services.waiting_line import LineView
from bot.storage import Avatar, Session
from bot.ui.embeds import SUCCESS
from bot.ui.fit import FIELD_VALUE, fit_lines
from cogs.call_pages import CallPager, how_it_ended, transcript_file_name, transcript_of
from cogs.channels import channel_health, post, require_postable
from cogs.command_index import for_admins
from cogs.shared import NO_MENTIONS, AvatarOption, Interaction, actor_of, guild_id_of, plain
from cogs.views import Confirm

TRANSCRIPT_CHOICES = [
    app_commands.Choice(name="Off: shown to no one", value=TranscriptSharing.OFF.value),
    app_commands.Choice(
        name="Sent to the member (admins can look them up)", value=TranscriptSharing.MEMBER.value
    ),
    app_commands.Choice(
        name="Also posted to the moderation log", value=TranscriptSharing.MODERATION.value
    ),
]
SHARING_WORDS = {
    TranscriptSharing.OFF: "off: shown to no one",
    TranscriptSharing.MEMBER: "sent to the member after each call; admins can look them up",
    TranscriptSharing.MODERATION: "sent to the member, and posted to the moderation log",
}


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class CallsCog(commands.GroupCog, group_name="calls"):
    """Transcripts, recordings and the waiting line (admins)."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        super().__init__()
        bot.services.tracker.on_settled(self.post_to_moderation_log)

    @for_admins
    @app_commands.command(name="settings")
    @app_commands.describe(
        transcripts="Who sees what was said in this server's calls",
        recordings="Whether members (and admins) may download their calls' recordings",
        moderation_log="Where each call is posted with its transcript",
        keep_days="Days before the bot deletes a call's transcript and recording at Runway "
        "(0: until someone asks)",
    )
    @app_commands.choices(transcripts=TRANSCRIPT_CHOICES)
    async def settings(
        self,
        interaction: Interaction,
        transcripts: app_commands.Choice[str] | None = None,
        recordings: bool | None = None,
        moderation_log: discord.TextChannel | None = None,
        keep_days: app_commands.Range[int, 0, MAX_KEEP_DAYS] | None = None,
    ) -> None:
        """See or change what happens to calls' transcripts and recordings (Manage Server)."""
        guild_id, actor = guild_id_of(interaction), actor_of(interaction)
        conversations = self.bot.services.conversations
        self.bot.services.permissions.require_admin(
            actor, doing="Choosing what happens to calls' transcripts"
        )
        if moderation_log is not None:  # checked before anything changes
            require_postable(interaction, moderation_log)
        changes: dict[str, Any] = {}
        if transcripts is not None:
            changes["transcripts"] = TranscriptSharing(transcripts.value)
        if recordings is not None:
            changes["recordings"] = recordings
        if moderation_log is not None:
            changes["moderation_channel_id"] = moderation_log.id
        if keep_days is not None:
            changes["keep_days"] = keep_days or None
        settings = (
            await conversations.update(guild_id, actor, **changes)
            if changes
            else await conversations.settings(guild_id)
        )
        embed = await self._settings_embed(
            settings,
            guild_id,
            interaction.guild,
            title="Calls settings changed" if changes else "Calls settings",
        )
        if changes:
            embed.colour = SUCCESS
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @for_admins
    @app_commands.command(name="lookup")
    @app_commands.describe(
        member="Whose calls to look at", avatar="Or: the calls with one of this server's avatars"
    )
    async def lookup(
        self,
        interaction: Interaction,
        member: discord.Member | None = None,
        avatar: AvatarOption | None = None,
    ) -> None:
        """Look at a member's or an avatar's recent calls here, for moderation (audited)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found: list[Session] = await self.bot.services.conversations.lookup(
            guild_id_of(interaction),
            actor_of(interaction),
            member_id=member.id if member is not None else None,
            avatar=avatar if isinstance(avatar, Avatar) else None,
        )
        whose = (
            f"{plain(member.display_name)}'s calls"
            if member is not None
            else f"Calls with {plain(avatar.name) if avatar else 'the avatar'}"
        )
        if not found:
            await interaction.edit_original_response(
                content=f"{whose}: none here yet. (This look-up is in the audit log.)",
                allowed_mentions=NO_MENTIONS,
            )
            return
        pager = CallPager(interaction, found, title=whose, member_name="Member", show_member=True)
        await pager.show(interaction)

    @for_admins
    @app_commands.command(name="line")
    async def line(self, interaction: Interaction) -> None:
        """See the waiting line for Runway's call slots, and clear this server's part of it."""
        guild_id, actor = guild_id_of(interaction), actor_of(interaction)
        view = await self.bot.services.line.view(guild_id, actor)
        embed = self._line_embed(view)
        if not view.places:
            await interaction.response.send_message(
                embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        confirm = Confirm(interaction, confirm_label="Clear this server's line")
        await interaction.response.send_message(
            embed=embed, view=confirm, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        await confirm.wait()
        if not confirm.confirmed:
            await interaction.edit_original_response(view=None)
            return
        cleared = await self.bot.services.line.clear(guild_id, actor)
        after = self._line_embed(await self.bot.services.line.view(guild_id, actor))
        after.description = (
            f"Cleared: {len(cleared)} member(s) left the line and were told.\n\n"
            + (after.description or "")
        )
        await interaction.edit_original_response(
            embed=after, view=None, allowed_mentions=NO_MENTIONS
        )

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """The bot was removed from a server: its members leave the waiting line."""
        await self.bot.services.line.clear(guild.id, None)

    # The moderation log

    async def post_to_moderation_log(self, session: Session) -> None:
        """After a call someone joined, post it with its transcript, if the server asks."""
        if not is_call(session):
            return
        settings = await self.bot.services.conversations.settings(session.guild_id)
        channel_id = settings.moderation_channel_id
        if (
            not settings.supported
            or settings.transcripts is not TranscriptSharing.MODERATION
            or channel_id is None
        ):
            return
        embed = self.bot.embeds.make(f"Call with {plain(session.avatar_label)}")
        embed.add_field(name="Member", value=f"<@{session.member_id}>")
        embed.add_field(name="Avatar", value=plain(session.avatar_label))
        embed.add_field(name="Length", value=duration_text(session.used_seconds or 0))
        embed.add_field(name="When", value=f"<t:{session.created_at}:f>")
        embed.add_field(name="How it ended", value=how_it_ended(session), inline=False)
        fetched, rendered = await transcript_of(self.bot, session, member="Member", as_file=True)
        file = None if rendered is None else rendered.attachment(transcript_file_name(session))
        embed.add_field(
            name="Transcript",
            value="Attached."
            if file is not None
            else f"{fetched.problem} Look it up later with `/calls lookup`.",
            inline=False,
        )
        # A refused post is written to the audit log (/avatar history) by `post`.
        await post(
            self.bot,
            MODERATION_LOG,
            guild_id=session.guild_id,
            channel_id=channel_id,
            embed=embed,
            file=file,
        )

    # Rendering

    async def _settings_embed(
        self, settings: CallSettings, guild_id: int, guild: discord.Guild | None, *, title: str
    ) -> discord.Embed:
        embed = self.bot.embeds.make(title)
        if not settings.supported:
            embed.description = (
                "The Runway API this bot is set up for (the seed description) keeps no "
                "transcripts or recordings of calls, so there is nothing to set here."
            )
            return embed
        embed.add_field(name="Transcripts", value=SHARING_WORDS[settings.transcripts], inline=False)
        embed.add_field(
            name="Recordings",
            value="offered to the member and admins" if settings.recordings else "not offered",
        )
        channel = settings.moderation_channel_id
        embed.add_field(
            name="Moderation log", value=channel_health(guild, channel) if channel else "not set"
        )
        embed.add_field(
            name="Kept at Runway",
            value=f"{settings.keep_days} days, then deleted"
            if settings.keep_days
            else "until a member asks to delete theirs (`/privacy forget-me`)",
            inline=False,
        )
        failing = await self.bot.services.conversations.failing(guild_id)
        if failing.count:
            embed.add_field(
                name="⚠️ Deletions Runway refused",
                value=f"{failing.count} call(s), tried up to {failing.most_attempts} times; "
                f"last: {plain(failing.last_error or 'no reason given', limit=300)}. "
                "The bot keeps trying.",
                inline=False,
            )
        return embed

    def _line_embed(self, view: LineView) -> discord.Embed:
        embed = self.bot.embeds.make("Waiting line")
        embed.description = (
            f"Call slots in use: **{view.live} of {view.slots}** (RUNWAY_MAX_LIVE_SESSIONS, "
            f"for every server of this bot). Waiting: **{view.waiting}** in all, "
            f"**{len(view.places)}** from this server. Servers take turns; within a server, "
            "first come first served."
        )
        lines = [
            f"#{place.position} <@{place.entry.member_id}> for "
            f"**{plain(place.entry.avatar_label, limit=60)}**, waiting since "
            f"<t:{place.entry.joined_at}:R> (about {place.minutes} min left)"
            for place in view.places
        ]
        if lines:
            embed.add_field(name="This server", value=fit_lines(lines, FIELD_VALUE), inline=False)
        return embed


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(CallsCog(bot))
