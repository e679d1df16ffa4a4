"""/session: start a live call with an avatar (join link by DM), end it, see its status."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import LimitReached, NotFound
from bot.runway import catalog
from bot.runway_bot import RunwayCharactersBot
from bot.services.actors import Actor
from bot.services.conversations import TranscriptSharing, is_call
from bot.services.durations import duration_text
from bot.services.quotas import Headroom
from bot.services.sessions import (
    PRESET_PREFIX,
    SlotsBusy,
    StartedSession,
    Target,
    preset_label,
)
from bot.storage import EndReason, Session, SessionState
from bot.ui.embeds import WARNING
from bot.ui.fit import choices
from cogs.call_pages import (
    CallPager,
    RecordingButton,
    how_it_ended,
    transcript_file_name,
    transcript_of,
)
from cogs.command_index import for_everyone
from cogs.line_board import LeaveLineButton, LineBoard, place_text
from cogs.persistent import persistent_view
from cogs.shared import NO_MENTIONS, Interaction, actor_of, guild_id_of, plain
from cogs.views import Confirm, replace_reply_with_error

log = logging.getLogger(__name__)

CANNOT_DM = 50007


class SessionCog(commands.GroupCog, group_name="session"):
    """Live video calls with this server's avatars."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        super().__init__()
        bot.services.tracker.on_settled(self.send_summary)
        self.board = LineBoard(bot, link_embed=lambda started: self.link_embed(started, None))

    async def cog_load(self) -> None:
        self.board.start()

    async def cog_unload(self) -> None:
        await self.board.stop()

    @for_everyone
    @app_commands.command(name="start")
    @app_commands.guild_only()
    @app_commands.describe(
        avatar="One of this server's avatars, or a Runway preset",
        minutes="How long the call may last (the server's maximum applies)",
    )
    async def start(
        self,
        interaction: Interaction,
        avatar: app_commands.Range[str, 1, catalog.AVATAR_NAME_MAX],
        minutes: app_commands.Range[int, 1, 30] | None = None,
    ) -> None:
        """Start a live call; the bot sends you a one-time join link."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        sessions = self.bot.services.sessions
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        target = await sessions.target(guild_id, avatar)
        if await self.bot.services.line.waits(guild_id, actor.user_id):
            await self._wait_in_line(interaction, target, minutes)  # keeps their place
            return

        async def progress(text: str) -> None:
            await interaction.edit_original_response(content=f"⏳ {text}")

        try:
            started = await sessions.start(
                guild_id, actor, target, minutes=minutes, progress=progress
            )
        except SlotsBusy:
            await self._wait_in_line(interaction, target, minutes)
            return
        except LimitReached as refused:
            if refused.limit != "member_live":
                await replace_reply_with_error(interaction, refused)
                return
            await self._offer_to_end(interaction, refused, target, minutes)
            return
        except Exception as error:  # the error replaces the progress line
            await replace_reply_with_error(interaction, error)
            return
        await self._deliver(interaction, started, target)

    async def _wait_in_line(
        self, interaction: Interaction, target: Target, minutes: int | None
    ) -> None:
        """Every call slot is taken: a place in line, shown (and kept up to date) here."""
        guild_id, actor = guild_id_of(interaction), actor_of(interaction)
        self.board.watch(interaction, guild_id)
        place = await self.bot.services.line.join(guild_id, actor, target, minutes=minutes)
        if place is not None:
            await self.board.show(guild_id, actor.user_id, place)

    async def _offer_to_end(
        self,
        interaction: Interaction,
        refused: LimitReached,
        target: Target,
        minutes: int | None,
    ) -> None:
        """The member's own live call is in the way: offer to end it and start this one."""
        sessions = self.bot.services.sessions
        guild_id, actor = guild_id_of(interaction), actor_of(interaction)
        live = await sessions.live(guild_id, actor)
        if not live:
            raise refused
        current = live[0]
        confirm = Confirm(interaction, confirm_label="End it and start the new call")
        await interaction.edit_original_response(
            content=f"Your call with **{plain(current.avatar_label)}** is still live "
            f"({duration_text(sessions.time_left(current))} left). If you lost its page, open "
            "the link again in the same browser and press Rejoin; or end it here and start "
            f"the call with **{plain(target.label)}**.",
            view=confirm,
            allowed_mentions=NO_MENTIONS,
        )
        await confirm.wait()
        if not confirm.confirmed:
            await interaction.edit_original_response(
                content="Kept your current call. `/session end` ends it whenever you like.",
                view=None,
            )
            return
        ended = await sessions.end(guild_id, actor)
        await interaction.edit_original_response(
            content=f"Ended your call with **{plain(ended.avatar_label)}**; starting the new one…",
            view=None,
            allowed_mentions=NO_MENTIONS,
        )
        try:
            started = await sessions.start(guild_id, actor, target, minutes=minutes)
        except SlotsBusy:  # the freed slot belongs to whoever was already waiting
            await self._wait_in_line(interaction, target, minutes)
            return
        await self._deliver(interaction, started, target)

    async def _deliver(
        self, interaction: Interaction, started: StartedSession, target: Target
    ) -> None:
        """DM the link; if the DM fails, the member must still get it, here."""
        link = self.link_embed(started, target)
        try:
            await interaction.user.send(embed=link, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            why = (
                "your DMs are closed for this server"
                if error.code == CANNOT_DM
                else "Discord refused the message"
            )
            link.description = f"I could not DM you ({why}), so here is the link. " + (
                link.description or ""
            )
            await interaction.edit_original_response(
                content=None, embed=link, allowed_mentions=NO_MENTIONS
            )
            return
        await interaction.edit_original_response(
            content=f"Your call with **{plain(target.label)}** is ready: I sent you the join "
            "link by DM.",
            allowed_mentions=NO_MENTIONS,
        )

    @start.autocomplete("avatar")
    async def avatar_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """This server's ready avatars first, then Runway's presets; never raises."""
        offered: list[tuple[str, str]] = []
        if interaction.guild_id is not None:
            try:
                avatars = await self.bot.services.avatars.search(
                    interaction.guild_id, current, usable_only=True
                )
            except Exception:  # autocomplete must never raise
                avatars = []
            offered = [(a.name, str(a.id)) for a in avatars]
        needle = current.strip().casefold()
        for preset in catalog.AVATAR_PRESETS:
            label = preset_label(preset)
            if needle in label.casefold() or needle in preset:
                offered.append((label, PRESET_PREFIX + preset))
        return choices(offered)

    @for_everyone
    @app_commands.command(name="end")
    @app_commands.guild_only()
    async def end(self, interaction: Interaction) -> None:
        """End your live call now, or leave the waiting line."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id, actor = guild_id_of(interaction), actor_of(interaction)
        left = await self.bot.services.line.leave(guild_id, actor.user_id)
        if left:
            await self.board.left(guild_id, actor.user_id, "You left the waiting line.")
        try:
            session = await self.bot.services.sessions.end(guild_id, actor)
        except NotFound:
            if not left:
                raise
            await interaction.followup.send(
                "You left the waiting line.", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        await interaction.followup.send(
            f"Ended your call with **{plain(session.avatar_label)}** after "
            f"{duration_text(session.used_seconds or 0)}."
            + (" You also left the waiting line." if left else ""),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @for_everyone
    @app_commands.command(name="status")
    @app_commands.guild_only()
    async def status(self, interaction: Interaction) -> None:
        """Show your live call and how much time it has left."""
        sessions = self.bot.services.sessions
        guild_id, actor = guild_id_of(interaction), actor_of(interaction)
        live = await sessions.live(guild_id, actor)
        if not live:
            place = await self.bot.services.line.place(guild_id, actor.user_id)
            text = (
                "You have no live call here. Start one with `/session start`."
                if place is None
                else place_text(place)
            )
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        session = live[0]
        state = "in the call" if session.consumed_at else "waiting for you to join"
        embed = self.bot.embeds.make(f"Call with {plain(session.avatar_label)}")
        embed.add_field(name="State", value=state)
        embed.add_field(name="Time left", value=duration_text(sessions.time_left(session)))
        embed.add_field(name="Limit", value=duration_text(session.max_seconds))
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @for_everyone
    @app_commands.command(name="history")
    @app_commands.guild_only()
    async def history(self, interaction: Interaction) -> None:
        """Your recent calls here, with what was said and their recordings."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        calls = await self.bot.services.conversations.history(
            guild_id_of(interaction), actor_of(interaction)
        )
        if not calls:
            await interaction.edit_original_response(
                content="You have had no calls here yet. Start one with `/session start`."
            )
            return
        pager = CallPager(
            interaction, calls, title="Your call", member_name="You", show_member=False
        )
        await pager.show(interaction)

    def link_embed(self, started: StartedSession, target: Target | None) -> discord.Embed:
        session = started.session
        embed = self.bot.embeds.make(
            f"Your call with {plain(session.avatar_label)}",
            f"[Join the call]({started.join_url})\n\n"
            "This link works once and only for you: don't share it. "
            f"Open it before <t:{started.link_expires_at}:t>.",
            footer="End the call early with /session end.",
        )
        embed.add_field(name="Time limit", value=duration_text(session.max_seconds))
        if target is not None and target.avatar is not None:
            avatar = target.avatar
            image = avatar.processed_image_uri or avatar.reference_image_uri
            if image and image.startswith("https://"):
                embed.set_thumbnail(url=image)
        return embed

    async def _member(self, session: Session) -> Actor:
        """The member with their roles, which decide their allowance, fetched over REST (the
        bot keeps no member cache); if that fails, the server's base allowance is shown."""
        guild = self.bot.get_guild(session.guild_id)
        try:
            member = await guild.fetch_member(session.member_id) if guild else None
        except discord.HTTPException:
            member = None
        if member is None:
            return Actor(user_id=session.member_id)
        return Actor(user_id=member.id, role_ids=frozenset(role.id for role in member.roles))

    async def send_summary(self, session: Session) -> None:
        """DM the member how the call went, with what was said when the server shares it and
        a Recording button when it offers that; a closed DM is not an error."""
        if session.state is SessionState.RELEASED and session.end_reason is EndReason.START_FAILED:
            return  # the member was told at once in the command's reply
        embed = self.bot.embeds.make(
            f"Your call with {plain(session.avatar_label)} has ended",
            f"It lasted {duration_text(session.used_seconds or 0)}: {how_it_ended(session)}.",
            colour=WARNING if session.used_seconds == 0 else discord.Colour.blurple(),
        )
        allowance = await self.bot.services.quotas.allowance(
            session.guild_id, await self._member(session)
        )
        embed.add_field(name="Your call time left today", value=_left_today(allowance.member_day))
        embeds: list[discord.Embed] = [embed]
        file: discord.File | None = None
        view: discord.ui.View | None = None
        settings = await self.bot.services.conversations.settings(session.guild_id)
        if is_call(session) and settings.supported:
            if settings.transcripts is not TranscriptSharing.OFF:
                fetched, rendered = await transcript_of(self.bot, session, member="You")
                if rendered is None:
                    embed.add_field(
                        name="Transcript",
                        value=f"{fetched.problem} Look again later with `/session history`.",
                        inline=False,
                    )
                elif rendered.inline is not None:
                    embeds.append(self.bot.embeds.make("What was said", rendered.inline))
                else:
                    file = rendered.attachment(transcript_file_name(session))
                    embed.add_field(
                        name="Transcript", value="Attached as a text file.", inline=False
                    )
            if settings.recordings:
                view = persistent_view(RecordingButton(session.id))
        try:
            user = self.bot.get_user(session.member_id) or await self.bot.fetch_user(
                session.member_id
            )
            await user.send(
                embeds=self.bot.embeds.together(*embeds),
                file=file or discord.utils.MISSING,
                view=view or discord.utils.MISSING,
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException:
            log.info("could not DM the summary of session %s", session.id)


def _left_today(room: Headroom | None) -> str:
    if room is None:
        return "unlimited"
    return (
        f"{duration_text(room.left)} of {duration_text(room.allowed)}; "
        f"resets <t:{room.resets_at}:R>"
    )


async def setup(bot: RunwayCharactersBot) -> None:
    bot.add_dynamic_items(RecordingButton, LeaveLineButton)
    await bot.add_cog(SessionCog(bot))
