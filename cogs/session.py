"""/session: start a live call with an avatar (join link by DM), end it, see its status."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import LimitReached
from bot.runway import catalog
from bot.runway_bot import RunwayCharactersBot
from bot.services.actors import Actor
from bot.services.durations import duration_text
from bot.services.quotas import Headroom
from bot.services.sessions import PRESET_PREFIX, StartedSession, Target, preset_label
from bot.storage import EndReason, Session, SessionState
from bot.ui.embeds import WARNING
from bot.ui.fit import choices
from cogs.command_index import for_everyone
from cogs.shared import NO_MENTIONS, Interaction, actor_of, guild_id_of, plain
from cogs.views import Confirm, replace_reply_with_error

log = logging.getLogger(__name__)

CANNOT_DM = 50007

_END_WORDS = {
    "member_ended": "you ended the call",
    "completed": "the call ended",
    "time_limit": "the time limit was reached (Runway ends calls at about 5 minutes)",
    "failed": "Runway reported a failure; it costs nothing",
    "cancelled": "the session was cancelled",
    "never_ready": "the call was never joined or Runway never got ready; it costs nothing",
    "start_failed": "the session could not be started; it costs nothing",
    "abandoned": "the session was abandoned",
}


class SessionCog(commands.GroupCog, group_name="session"):
    """Live video calls with this server's avatars."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        super().__init__()
        bot.services.tracker.on_settled(self.send_summary)

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

        async def progress(text: str) -> None:
            await interaction.edit_original_response(content=f"⏳ {text}")

        try:
            started = await sessions.start(
                guild_id, actor, target, minutes=minutes, progress=progress
            )
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
        started = await sessions.start(guild_id, actor, target, minutes=minutes)
        await self._deliver(interaction, started, target)

    async def _deliver(
        self, interaction: Interaction, started: StartedSession, target: Target
    ) -> None:
        """DM the link; if the DM fails, the member must still get it, here."""
        link = self._link_embed(started, target)
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
        """End your live call now."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        session = await self.bot.services.sessions.end(
            guild_id_of(interaction), actor_of(interaction)
        )
        await interaction.followup.send(
            f"Ended your call with **{plain(session.avatar_label)}** after "
            f"{duration_text(session.used_seconds or 0)}.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @for_everyone
    @app_commands.command(name="status")
    @app_commands.guild_only()
    async def status(self, interaction: Interaction) -> None:
        """Show your live call and how much time it has left."""
        sessions = self.bot.services.sessions
        live = await sessions.live(guild_id_of(interaction), actor_of(interaction))
        if not live:
            await interaction.response.send_message(
                "You have no live call here. Start one with `/session start`.", ephemeral=True
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

    def _link_embed(self, started: StartedSession, target: Target) -> discord.Embed:
        session = started.session
        embed = self.bot.embeds.make(
            f"Your call with {plain(session.avatar_label)}",
            f"[Join the call]({started.join_url})\n\n"
            "This link works once and only for you: don't share it. "
            f"Open it before <t:{started.link_expires_at}:t>.",
            footer="End the call early with /session end.",
        )
        embed.add_field(name="Time limit", value=duration_text(session.max_seconds))
        if target.avatar is not None:
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
        """DM the member how the call went; a closed DM is not an error."""
        if session.state is SessionState.RELEASED and session.end_reason is EndReason.START_FAILED:
            return  # the member was told at once in the command's reply
        reason = _END_WORDS.get(session.end_reason.value if session.end_reason else "", "it ended")
        embed = self.bot.embeds.make(
            f"Your call with {plain(session.avatar_label)} has ended",
            f"It lasted {duration_text(session.used_seconds or 0)}: {reason}.",
            colour=WARNING if session.used_seconds == 0 else discord.Colour.blurple(),
        )
        allowance = await self.bot.services.quotas.allowance(
            session.guild_id, await self._member(session)
        )
        embed.add_field(name="Your call time left today", value=_left_today(allowance.member_day))
        try:
            user = self.bot.get_user(session.member_id) or await self.bot.fetch_user(
                session.member_id
            )
            await user.send(embed=embed, allowed_mentions=NO_MENTIONS)
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
    await bot.add_cog(SessionCog(bot))
