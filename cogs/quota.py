"""/quota: a server's call-time limits; members see their own allowance, admins set them.

Also posts the budget alerts: after each session settles, whatever `bot.services.alerts`
returns goes to the server's alert channel.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_permissions import BUDGET_ALERTS
from bot.errors import InvalidInput
from bot.runway.dialects import Operation
from bot.runway_bot import RunwayCharactersBot
from bot.services.actors import Actor
from bot.services.alerts import BudgetAlert
from bot.services.amounts import LABELS, describe, parse_amount
from bot.services.durations import duration_text
from bot.services.local_time import zone_names
from bot.services.quotas import Allowance, Headroom, QuotaSettings
from bot.services.video_quotas import VideoAllowance
from bot.storage import Session, SessionState
from bot.storage.quotas import QuotaName
from bot.storage.videos import Video
from bot.ui.embeds import FAILURE, SUCCESS, WARNING
from bot.ui.fit import FIELD_VALUE, choices, fit_lines
from cogs.channels import channel_health, post, require_postable
from cogs.command_index import for_admins, for_everyone
from cogs.shared import NO_MENTIONS, Interaction, actor_of, guild_id_of, plain
from cogs.views import Confirm

LIMIT_CHOICES = [app_commands.Choice(name=LABELS[name], value=name.value) for name in QuotaName]
RESET_TIMEZONE = "timezone"
RESET_ALERTS = "alert_channel"
RESET_EVERYTHING = "everything"
RESET_CHOICES = [
    *LIMIT_CHOICES,
    app_commands.Choice(name="Timezone (back to UTC)", value=RESET_TIMEZONE),
    app_commands.Choice(name="Alert channel (no alerts)", value=RESET_ALERTS),
    app_commands.Choice(name="Every limit, tier and the timezone", value=RESET_EVERYTHING),
]
AMOUNT_HINTS = ("5", "10", "15", "30", "60", "1h30", "unlimited", "0")


class QuotaCog(commands.GroupCog, group_name="quota"):
    """Call-time limits of this server."""

    def __init__(self, bot: RunwayCharactersBot) -> None:
        self.bot = bot
        super().__init__()
        bot.services.tracker.on_settled(self.post_alerts)
        bot.services.videos.tracker.on_ended(self.post_video_alerts)

    @for_everyone
    @app_commands.command(name="show")
    @app_commands.guild_only()
    @app_commands.describe(member="Whose allowance to show (admins only; default: yours)")
    async def show(self, interaction: Interaction, member: discord.Member | None = None) -> None:
        """Show what you may still use here; admins also see every limit of the server."""
        quotas = self.bot.services.quotas
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        whose = _actor_for(member) if member is not None else None
        allowance = await quotas.allowance(guild_id, actor, whose)
        title = "Your allowance" if member is None else f"Allowance of {plain(member.display_name)}"
        embed = self._allowance_embed(title, allowance)
        if self.bot.runway.rules.supports(Operation.VIDEO_CREATE):
            videos = await self.bot.services.video_quotas.allowance(guild_id, actor, whose)
            _video_fields(embed, videos)
        embeds = [embed]
        if actor.manages_guild:
            settings = await quotas.settings(guild_id)
            embeds.append(self._settings_embed(settings, "Server limits", interaction.guild))
        await interaction.response.send_message(
            embeds=self.bot.embeds.together(*embeds), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @for_admins
    @app_commands.command(name="set")
    @app_commands.guild_only()
    @app_commands.describe(
        limit="Which limit to change",
        amount="Minutes for time limits (or 1h30, 45s), a number for counts, or unlimited; "
        "0 allows none",
        role="Give this role its own call time per member per day (most generous role wins)",
        timezone="The server's timezone, where days and months begin (e.g. Europe/Paris)",
        alert_channel="Where to post when calls pass 50, 80 and 100 % of a budget",
    )
    @app_commands.choices(limit=LIMIT_CHOICES)
    async def set_(
        self,
        interaction: Interaction,
        limit: app_commands.Choice[str] | None = None,
        amount: app_commands.Range[str, 1, 40] | None = None,
        role: discord.Role | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        alert_channel: discord.TextChannel | None = None,
    ) -> None:
        """Change this server's limits (Manage Server)."""
        quotas = self.bot.services.quotas
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        if (limit is None) != (amount is None) or (role is not None and limit is None):
            raise InvalidInput("Give a limit together with an amount (and a role, if any).")
        if limit is None and timezone is None and alert_channel is None:
            raise InvalidInput("Give a limit and an amount, a timezone or an alert channel.")
        if alert_channel is not None:  # checked before anything changes
            self.bot.services.permissions.require_admin(actor, doing="Choosing the alert channel")
            require_postable(interaction, alert_channel)
        done: list[str] = []
        if limit is not None and amount is not None:
            name = QuotaName(limit.value)
            value = parse_amount(name, amount)
            await quotas.set_limit(
                guild_id, actor, name, value, role_id=role.id if role is not None else None
            )
            whom = f" for {role.mention}" if role is not None else ""
            done.append(f"{LABELS[name]}{whom}: **{describe(name, value)}**")
        if timezone is not None:
            zone = (await quotas.set_timezone(guild_id, actor, timezone)).timezone
            done.append(f"Timezone: **{zone.key}**")
        if alert_channel is not None:
            await quotas.set_alert_channel(guild_id, actor, alert_channel.id)
            done.append(f"Alerts go to {alert_channel.mention}")
        settings = await quotas.settings(guild_id)
        embed = self._settings_embed(settings, "Limits changed", interaction.guild, colour=SUCCESS)
        embed.description = "\n".join(done)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @set_.autocomplete("timezone")
    async def timezone_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            return choices((name, name) for name in zone_names(current))
        except Exception:  # autocomplete must never raise
            return []

    @set_.autocomplete("amount")
    async def amount_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip()
        hints = [typed, *AMOUNT_HINTS] if typed else list(AMOUNT_HINTS)
        return choices((hint, hint) for hint in dict.fromkeys(hints))

    @for_admins
    @app_commands.command(name="reset")
    @app_commands.guild_only()
    @app_commands.describe(
        setting="What to put back to the default", role="Remove this role's own daily call time"
    )
    @app_commands.choices(setting=RESET_CHOICES)
    async def reset(
        self,
        interaction: Interaction,
        setting: app_commands.Choice[str] | None = None,
        role: discord.Role | None = None,
    ) -> None:
        """Put limits back to the defaults (Manage Server)."""
        quotas = self.bot.services.quotas
        guild_id = guild_id_of(interaction)
        actor = actor_of(interaction)
        if setting is None and role is None:
            raise InvalidInput("Choose a setting to reset, or a role whose call time to remove.")
        if setting is not None and setting.value == RESET_EVERYTHING:
            await self._reset_everything(interaction, actor)
            return
        done: list[str] = []
        if role is not None:
            await quotas.reset_role_tier(guild_id, actor, role.id)
            done.append(f"{role.mention} has no call time of its own any more")
        if setting is not None:
            done.append(await self._reset_one(guild_id, actor, setting.value))
        settings = await quotas.settings(guild_id)
        embed = self._settings_embed(settings, "Limits reset", interaction.guild, colour=SUCCESS)
        embed.description = "\n".join(done)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    async def _reset_one(self, guild_id: int, actor: Actor, value: str) -> str:
        quotas = self.bot.services.quotas
        if value == RESET_TIMEZONE:
            await quotas.set_timezone(guild_id, actor, "UTC")
            return "Timezone: **UTC**"
        if value == RESET_ALERTS:
            await quotas.set_alert_channel(guild_id, actor, None)
            return "No budget alerts"
        name = QuotaName(value)
        settings = await quotas.reset_limit(guild_id, actor, name)
        return f"{LABELS[name]}: **{describe(name, settings.limits[name])}** (default)"

    async def _reset_everything(self, interaction: Interaction, actor: Actor) -> None:
        self.bot.services.permissions.require_admin(actor, doing="Resetting this server's limits")
        confirm = Confirm(interaction, confirm_label="Reset everything")
        await interaction.response.send_message(
            "Put every limit and role tier back to the defaults, and the timezone back to UTC?",
            view=confirm,
            ephemeral=True,
        )
        await confirm.wait()
        if not confirm.confirmed:
            await interaction.edit_original_response(content="Nothing was changed.", view=None)
            return
        settings = await self.bot.services.quotas.reset_all(guild_id_of(interaction), actor)
        await interaction.edit_original_response(
            content=None,
            embed=self._settings_embed(
                settings, "Every limit is back to its default", interaction.guild
            ),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )

    # Budget alerts

    async def post_alerts(self, session: Session) -> None:
        """After a session settles, post any budget threshold it carried the server past."""
        if session.state is not SessionState.SETTLED or not session.used_seconds:
            return
        await self._alert(session.guild_id)

    async def post_video_alerts(self, video: Video, told: bool) -> None:
        """The same after an avatar video settles (its budget is its own)."""
        if video.used_seconds:
            await self._alert(video.guild_id)

    async def _alert(self, guild_id: int) -> None:
        for alert in await self.bot.services.alerts.check(guild_id):
            # A refused post is in the audit log and on /quota show: admins are told there.
            await post(
                self.bot,
                BUDGET_ALERTS,
                guild_id=alert.guild_id,
                channel_id=alert.channel_id,
                embed=self._alert_embed(alert),
            )

    # Rendering

    def _alert_embed(self, alert: BudgetAlert) -> discord.Embed:
        colour = FAILURE if alert.percent >= 100 else WARNING
        return self.bot.embeds.make(alert.title, alert.text, colour=colour)

    def _allowance_embed(self, title: str, allowance: Allowance) -> discord.Embed:
        embed = self.bot.embeds.make(title, footer=f"Days begin at midnight {allowance.timezone}")
        embed.add_field(
            name="Call time today", value=_budget_text(allowance.member_day), inline=False
        )
        live = _of(allowance.member_live, allowance.member_live_cap)
        server_live = _of(allowance.guild_live, allowance.guild_live_cap)
        embed.add_field(name="Live calls", value=f"yours: {live}\nserver: {server_live}")
        embed.add_field(
            name="Longest call", value=describe(QuotaName.SESSION, allowance.longest_session)
        )
        wait = describe(QuotaName.COOLDOWN, allowance.cooldown)
        if allowance.next_start_at is not None:
            wait += f"\nyou can start again <t:{allowance.next_start_at}:R>"
        embed.add_field(name="Wait between calls", value=wait)
        embed.add_field(name="Server today", value=_budget_text(allowance.guild_day))
        embed.add_field(name="Server this month", value=_budget_text(allowance.guild_month))
        return embed

    def _settings_embed(
        self,
        settings: QuotaSettings,
        title: str,
        guild: discord.Guild | None,
        *,
        colour: discord.Colour | None = None,
    ) -> discord.Embed:
        embed = self.bot.embeds.make(title, colour=colour or discord.Colour.blurple())
        lines = [
            f"{LABELS[name]}: **{describe(name, settings.limits[name])}**"
            + ("" if name in settings.custom else " (default)")
            for name in QuotaName
        ]
        embed.add_field(name="Limits", value="\n".join(lines), inline=False)
        tiers = [
            f"<@&{role}>: "
            + (
                "unlimited"
                if seconds is None
                else f"{describe(QuotaName.MEMBER_DAY, seconds)} a day"
            )
            for role, seconds in sorted(settings.role_tiers.items())
        ]
        if tiers:
            embed.add_field(
                name="Call time by role", value=fit_lines(tiers, FIELD_VALUE), inline=False
            )
        embed.add_field(name="Timezone", value=settings.timezone.key)
        channel = settings.alert_channel_id
        embed.add_field(name="Alerts", value=channel_health(guild, channel) if channel else "off")
        return embed


def _actor_for(member: discord.Member) -> Actor:
    """Another member as the services see them: their roles decide their allowance."""
    return Actor(
        user_id=member.id,
        manages_guild=member.guild_permissions.manage_guild,
        role_ids=frozenset(role.id for role in member.roles),
    )


def _video_fields(embed: discord.Embed, allowance: VideoAllowance) -> None:
    """The video time beside the call time: `/avatar say` has a budget of its own."""
    embed.add_field(name="Video time today", value=_budget_text(allowance.member_day), inline=False)
    wait = describe(QuotaName.VIDEO_COOLDOWN, allowance.cooldown)
    if allowance.next_request_at is not None:
        wait += f"\nyou can ask again <t:{allowance.next_request_at}:R>"
    if allowance.in_flight:
        wait += "\none video of yours is on its way"
    embed.add_field(name="Wait between videos", value=wait)
    embed.add_field(name="Server video today", value=_budget_text(allowance.guild_day))


def _budget_text(room: Headroom | None) -> str:
    if room is None:
        return "unlimited"
    if room.allowed == 0:
        return "none allowed"
    left = duration_text(room.left) if room.left else "nothing"
    return f"**{left}** left of {duration_text(room.allowed)}; resets <t:{room.resets_at}:R>"


def _of(count: int, cap: int | None) -> str:
    return f"{count} of {'unlimited' if cap is None else cap}"


async def setup(bot: RunwayCharactersBot) -> None:
    await bot.add_cog(QuotaCog(bot))
