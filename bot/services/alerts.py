"""Budget alerts: tell a server's admins when its calls pass 50, 80 and 100 % of a budget.

Checked after each session settles, on real (settled) seconds of the server's local day and
month; and after each avatar video settles, on the videos' own daily budget (video time is a
budget apart from call time, with alerts of its own). Each threshold is claimed in the
database before it is announced, so it is posted once per period even when sessions settle at
the same moment; a session that crosses several
thresholds at once gives one alert, for the highest. Nothing is claimed while the server has
no alert channel, so choosing one later still announces what the current periods reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.services import local_time
from bot.services.durations import duration_text
from bot.services.quotas import QuotaService
from bot.storage import Clock, Period, UsageRepository, unix_now
from bot.storage.quotas import Budget, QuotaName, QuotaRepository
from bot.storage.videos import VideoRepository

THRESHOLDS: Final = (50, 80, 100)

_BUDGET_LIMITS: Final = {
    Budget.DAY: QuotaName.GUILD_DAY,
    Budget.MONTH: QuotaName.GUILD_MONTH,
    Budget.VIDEO_DAY: QuotaName.VIDEO_GUILD_DAY,
}
_BUDGET_WORDS: Final = {
    Budget.DAY: "daily call time",
    Budget.MONTH: "monthly call time",
    Budget.VIDEO_DAY: "daily video time",
}


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """One message for the alert channel: a title and a line of text, and the figures."""

    guild_id: int
    channel_id: int
    budget: Budget
    percent: int
    used_seconds: int
    budget_seconds: int
    resets_at: int
    title: str
    text: str


class BudgetAlerts:
    def __init__(
        self,
        *,
        quotas: QuotaService,
        repository: QuotaRepository,
        usage: UsageRepository,
        videos: VideoRepository | None = None,
        clock: Clock = unix_now,
    ) -> None:
        self._videos = videos
        self._quotas = quotas
        self._repository = repository
        self._usage = usage
        self._clock = clock

    async def check(self, guild_id: int) -> list[BudgetAlert]:
        """The alerts to post now for `guild_id` (usually none); each is returned only once."""
        settings = await self._quotas.settings(guild_id)
        if settings.alert_channel_id is None:
            return []
        now = self._clock()
        tz = settings.timezone
        day, month = local_time.calendar(now, tz)
        periods = {Budget.DAY: day, Budget.MONTH: month}
        if self._videos is not None:
            periods[Budget.VIDEO_DAY] = day
        alerts = []
        for budget, period in periods.items():
            allowed = settings.limits[_BUDGET_LIMITS[budget]]
            if not allowed:  # no limit, or none allowed: nothing to approach
                continue
            claimed = await self._claim(guild_id, budget, period, allowed)
            if claimed is None:
                continue
            percent, used = claimed
            word = _BUDGET_WORDS[budget]
            alerts.append(
                BudgetAlert(
                    guild_id=guild_id,
                    channel_id=settings.alert_channel_id,
                    budget=budget,
                    percent=percent,
                    used_seconds=used,
                    budget_seconds=allowed,
                    resets_at=period.end,
                    title=(
                        f"This server has used all of its {word}"
                        if percent >= 100
                        else f"This server has used {percent} % of its {word}"
                    ),
                    text=(
                        f"{duration_text(used)} of {duration_text(allowed)} used; it resets "
                        f"{local_time.until_text(period.end, tz, now)}. "
                        + (
                            f"New {'videos' if budget is Budget.VIDEO_DAY else 'calls'} wait "
                            "until then; `/quota set` raises the budget."
                            if percent >= 100
                            else "`/usage` shows who and what used it."
                        )
                    ),
                )
            )
        return alerts

    async def _claim(
        self, guild_id: int, budget: Budget, period: Period, allowed: int
    ) -> tuple[int, int] | None:
        """(highest threshold newly reached, seconds used), or None if nothing new."""
        if budget is Budget.VIDEO_DAY and self._videos is not None:
            used = (await self._videos.totals(guild_id, period)).seconds
        else:
            used = (await self._usage.totals(guild_id, period)).settled_seconds
        reached = [percent for percent in THRESHOLDS if used * 100 >= allowed * percent]
        if not reached:
            return None
        claimed = await self._repository.claim_alerts(guild_id, budget, period.start, reached)
        return (max(claimed), used) if claimed else None
