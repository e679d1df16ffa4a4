"""What reconciliation with Runway found and did: DMs to the members concerned, and the
admins' summary in `/about`."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.runway_bot import RunwayCharactersBot
from bot.services.reconciler import REPORT_DAYS, Outcome
from bot.storage.intents import IntentState
from bot.ui.embeds import SUCCESS, WARNING
from bot.ui.fit import FIELD_VALUE, fit_lines
from cogs.shared import NO_MENTIONS, plain

log = logging.getLogger(__name__)

NAME_SHOWN = 100
"""Of an avatar's or a document's name (up to 255), so the last three fit in one field."""

_TITLES = {
    IntentState.ADOPTED: "Runway finished what you asked for",
    IntentState.REMOVED: "Something you asked for did not complete",
    IntentState.FAILED: "Something you asked for did not complete",
    IntentState.UNRESOLVED: "Something you asked for did not complete",
}


class RecoveryCog(commands.Cog):
    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        bot.services.reconciler.on_outcome(self.tell_member)

    async def tell_member(self, outcome: Outcome) -> None:
        """DM the member whose request reconciliation settled; a closed DM is not an error."""
        message = outcome.resolution.member_message
        if message is None:
            return
        state = outcome.resolution.state
        embed = self.bot.embeds.make(
            _TITLES.get(state, "An update on your request"),
            message,
            colour=SUCCESS if state is IntentState.ADOPTED else WARNING,
        )
        guild = self.bot.get_guild(outcome.intent.guild_id)
        if guild is not None:
            embed.set_footer(text=f"In {guild.name}")
        try:
            user = self.bot.get_user(outcome.intent.member_id) or await self.bot.fetch_user(
                outcome.intent.member_id
            )
            await user.send(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.info(
                "could not DM member %s about intent %s",
                outcome.intent.member_id,
                outcome.intent.id,
            )


async def reconciliation_summary(bot: RunwayCharactersBot, guild_id: int) -> str:
    """For admins: the last check of Runway's objects and what it settled for this server."""
    reconciler = bot.services.reconciler
    counts = await reconciler.counts(guild_id)
    report = reconciler.last_report
    lines = [
        f"Last check: <t:{report.finished_at}:R> ({report.reason})" if report else "Not run yet",
        f"This server, last {REPORT_DAYS} days: {counts.adopted} found and kept, "
        f"{counts.removed} found and removed, {counts.failed} never made, "
        f"{counts.unresolved} unknowable (reported), {counts.open} still being checked.",
    ]
    strangers = sum(len(ids) for ids in reconciler.unattributed.values())
    if strangers:
        lines.append(
            f"{strangers} objects at Runway, seen while checking, belong to no record of this "
            "bot (another app on the account?): left alone."
        )
    for intent in await reconciler.recent(guild_id, limit=3):
        outcome = intent.outcome or "still being checked"
        lines.append(f"• {intent.kind} **{plain(intent.name, limit=NAME_SHOWN)}**: {outcome}")
    return fit_lines(lines, FIELD_VALUE)


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(RecoveryCog(bot))
