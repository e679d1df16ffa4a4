"""/privacy: a member erases what the bot keeps about them here; admins choose how long
sessions are kept."""

from __future__ import annotations

from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.runway_bot import RunwayCharactersBot
from bot.services.conversations import Deletions
from bot.services.durations import duration_text
from bot.services.privacy import MAX_RETENTION_MONTHS, Forgotten, Kept
from bot.storage.conversations import ERASED as ERASED_AT_RUNWAY
from bot.ui.embeds import SUCCESS
from cogs.command_index import for_everyone
from cogs.shared import NO_MENTIONS, Interaction, actor_of, guild_id_of
from cogs.views import Confirm

FORGET_PROMPT = (
    "Erase what this bot keeps about you in this server?\n"
    "• Your calls are deleted. Their minutes stay in the server's totals, under "
    '"a forgotten member", so its limits and reports still add up.\n'
    "• What Runway keeps of your calls here (transcripts and recordings) is deleted there.\n"
    "• Avatars, knowledge and history entries you made stay, without your name.\n"
    "• Your place in the waiting line goes.\n"
    "• Erasing does not reset your limits: the call and video time you used today (until the "
    "server's day ends) and when your last call or video ended (while the wait after it runs) "
    "are kept for them, with nothing else about you, then deleted.\n"
    "This cannot be undone."
)


class PrivacyCog(commands.GroupCog, group_name="privacy"):
    """Your data in this bot."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        super().__init__()

    @for_everyone
    @app_commands.command(name="forget-me")
    @app_commands.guild_only()
    async def forget_me(self, interaction: Interaction) -> None:
        """Erase what this bot keeps about you in this server (asks first)."""
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        confirm = Confirm(interaction, confirm_label="Erase my data")
        await interaction.response.send_message(FORGET_PROMPT, view=confirm, ephemeral=True)
        await confirm.wait()
        if not confirm.confirmed:
            await interaction.edit_original_response(content="Nothing was erased.", view=None)
            return
        try:
            forgotten = await self.bot.services.privacy.forget(guild_id, actor)
        except UserFacingError as refused:
            await interaction.edit_original_response(content=refused.user_message, view=None)
            return
        # Deleting at Runway is network work: it was queued in the erasure's transaction, is
        # tried now, and whatever Runway refuses stays queued for the scheduled retries.
        at_runway = await self.bot.services.conversations.forget_now(guild_id)
        text = _erased(forgotten) + "\n" + _kept(forgotten.kept)
        if forgotten.erased.get(ERASED_AT_RUNWAY):
            text += "\n" + _deleted_at_runway(forgotten.erased[ERASED_AT_RUNWAY], at_runway)
        await interaction.edit_original_response(
            content=None,
            embed=self.bot.embeds.make("Your data in this server is erased", text, colour=SUCCESS),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )

    @for_everyone
    @app_commands.command(name="retention")
    @app_commands.guild_only()
    @app_commands.describe(
        months="Keep sessions this many months besides the current one (Manage Server); "
        "0 keeps every session. Leave out to see the setting."
    )
    async def retention(
        self,
        interaction: Interaction,
        months: app_commands.Range[int, 0, MAX_RETENTION_MONTHS] | None = None,
    ) -> None:
        """See or choose how long this server's sessions are kept."""
        privacy = self.bot.services.privacy
        guild_id = guild_id_of(interaction)
        if months is None:
            kept = await privacy.retention_months(guild_id)
            title = "Session retention"
        else:
            kept = await privacy.set_retention(guild_id, actor_of(interaction), months or None)
            title = "Session retention changed"
        await interaction.response.send_message(
            embed=self.bot.embeds.make(title, _retention(kept)),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


def _deleted_at_runway(queued: int, done: Deletions) -> str:
    if not done.failed:
        return f"Runway deleted the transcripts and recordings of your {queued} call(s) here."
    return (
        f"Runway could not delete the transcripts and recordings of {done.failed} of your "
        f"call(s) yet ({done.last_error}). The bot keeps them queued and tries again every "
        "few minutes until Runway confirms; admins see it if it keeps failing."
    )


def _erased(forgotten: Forgotten) -> str:
    shown = {kind: count for kind, count in forgotten.erased.items() if kind != ERASED_AT_RUNWAY}
    done = [f"{kind}: {count}" for kind, count in shown.items() if count]
    if not done:
        return "The bot kept nothing about you here."
    return (
        "\n".join(done)
        + "\nCalls were deleted (their minutes stay in the server's totals, unnamed); "
        "everything else stays without your name."
    )


def _kept(kept: Kept | None) -> str:
    """What the limits keep, in the member's words and their own clock (Discord's timestamps)."""
    if kept is None:
        return "Nothing is kept for this server's limits: none of them needed anything of you."
    lines = [
        f"Kept for this server's limits, with nothing else about you, until <t:{kept.until}:f> "
        f"(<t:{kept.until}:R>), and deleted within the hour after:"
    ]
    if kept.call_seconds:
        lines.append(f"• call time used today: {duration_text(kept.call_seconds)}")
    if kept.video_seconds:
        lines.append(f"• avatar video time used today: {duration_text(kept.video_seconds)}")
    if kept.next_call_at is not None:
        lines.append(
            f"• the end of your last call: your next call can start <t:{kept.next_call_at}:R>"
        )
    if kept.next_video_at is not None:
        lines.append(
            f"• your last avatar video: you can ask for the next <t:{kept.next_video_at}:R>"
        )
    return "\n".join(lines)


def _retention(months: int | None) -> str:
    if months is None:
        return (
            "Every session is kept, and every entry of the history of changes "
            "(`/avatar history`). Reports and limits never need them: the totals stay."
        )
    plural = "month" if months == 1 else "months"
    return (
        f"Sessions are kept for the current month and the {months} {plural} before it, and so "
        "are the entries of the history of changes (`/avatar history`); older ones are deleted "
        "within the hour. Reports of any period keep their totals; only the per-call details "
        "(CSV rows) and the history entries of older months go."
    )


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(PrivacyCog(bot))
