"""/usage: a period's calls as an embed with a chart, and (admins) a CSV of every session."""

from __future__ import annotations

import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.runway_bot import RunwayCharactersBot
from bot.services.durations import duration_text
from bot.services.usage_reports import PERIOD_LABELS, Reconciliation, ReportPeriod, UsageReport
from bot.storage import LabelUsage
from bot.storage.common import FORGOTTEN_MEMBER
from cogs.command_index import for_everyone
from cogs.shared import NO_MENTIONS, Interaction, actor_of, guild_id_of, plain

CHART_FILE = "usage.png"

_ENDED = {
    "member_ended": "member hung up",
    "completed": "ended by Runway",
    "time_limit": "time limit",
    "failed": "failure",
    "cancelled": "cancelled",
    "never_ready": "never joined",
    "start_failed": "could not start",
    "abandoned": "connection lost",
}


class UsageCog(commands.Cog):
    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot

    @for_everyone
    @app_commands.command(name="usage")
    @app_commands.guild_only()
    @app_commands.describe(
        period="Which days to count (default: the last 7 days)",
        member="Whose calls (admins: anyone; others see only their own)",
        export="Also attach every session of the period as a CSV file (admins)",
    )
    @app_commands.rename(export="csv")
    @app_commands.choices(
        period=[
            app_commands.Choice(name=label, value=kind.value)
            for kind, label in PERIOD_LABELS.items()
        ]
    )
    async def usage(
        self,
        interaction: Interaction,
        period: app_commands.Choice[str] | None = None,
        member: discord.Member | None = None,
        export: bool = False,
    ) -> None:
        """Show how much this server (or one member) called its avatars, with a chart."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        reports = self.bot.services.usage
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        kind = ReportPeriod(period.value) if period is not None else ReportPeriod.LAST_7_DAYS
        member_id = member.id if member is not None else None
        report = await reports.report(guild_id, actor, kind, member_id)
        table = await reports.export_csv(guild_id, actor, kind, member_id) if export else None
        files = [discord.File(io.BytesIO(await reports.chart(report)), filename=CHART_FILE)]
        if table is not None:
            files.append(discord.File(io.BytesIO(table.data), filename=table.filename))
        embed = self._embed(report, member)
        embed.set_image(url=f"attachment://{CHART_FILE}")
        await interaction.followup.send(
            embed=embed, files=files, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    def _embed(self, report: UsageReport, member: discord.Member | None) -> discord.Embed:
        totals = report.totals
        whose = (
            "this server"
            if report.member_id is None
            else plain(member.display_name)
            if member is not None
            else "you"
        )
        lines = [
            f"**{totals.settled_sessions}** {_calls(totals.settled_sessions)}, "
            f"**{duration_text(totals.settled_seconds)}** in all, for {whose}.",
            f"<t:{report.period.start}:d> to <t:{report.period.end - 1}:d>",
        ]
        if totals.live_sessions:
            held = duration_text(totals.reserved_seconds)
            lines.append(f"{totals.live_sessions} live now, holding {held}.")
        embed = self.bot.embeds.make(
            f"Usage: {report.label}",
            "\n".join(lines),
            footer=f"Days in {report.timezone}. Calls count on the day they started.",
        )
        embed.add_field(
            name="Calls",
            value=f"{totals.settled_sessions} · {duration_text(totals.settled_seconds)}",
        )
        if report.videos is not None:
            count = report.videos.videos
            embed.add_field(
                name="Avatar videos",
                value=f"{count} · {duration_text(report.videos.seconds)} of video",
            )
        if report.top_avatars:
            embed.add_field(name="Top avatars", value=_ranking(report.top_avatars), inline=False)
        if report.top_members:
            embed.add_field(
                name="Top members",
                value="\n".join(
                    f"{_member(m.member_id)}: {m.sessions} {_calls(m.sessions)}, "
                    f"{duration_text(m.seconds)}"
                    for m in report.top_members
                ),
                inline=False,
            )
        if report.end_reasons:
            embed.add_field(
                name="How calls ended",
                value=", ".join(
                    f"{_ENDED.get(r.label, r.label)}: {r.sessions}" for r in report.end_reasons
                ),
                inline=False,
            )
        if report.reconciliation is not None:
            embed.add_field(
                name="Runway's figures (whole account)",
                value=_books(report.reconciliation),
                inline=False,
            )
        return embed


def _ranking(rows: list[LabelUsage]) -> str:
    return "\n".join(
        f"**{plain(row.label, limit=60)}**: {row.sessions} {_calls(row.sessions)}, "
        f"{duration_text(row.seconds)}"
        for row in rows
    )


def _member(member_id: int) -> str:
    return "forgotten members" if member_id == FORGOTTEN_MEMBER else f"<@{member_id}>"


def _calls(count: int) -> str:
    return "call" if count == 1 else "calls"


def _books(books: Reconciliation) -> str:
    ours = (
        f"Our books (every server of this bot): {duration_text(books.ours_seconds)} "
        f"in {books.ours_sessions} joined calls"
    )
    if books.ours_live:
        ours += f", {books.ours_live} still live"
    if books.runway_seconds is None:
        return f"{ours}\nRunway could not be asked: {books.problem}"
    difference = books.seconds_difference or 0
    sign = "+" if difference > 0 else "-" if difference < 0 else ""
    return (
        f"{ours}\nRunway: {duration_text(books.runway_seconds)} "
        f"in {books.runway_sessions} conversations\n"
        f"Difference: {sign}{duration_text(abs(difference))}"
    )


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(UsageCog(bot))
