"""A member's data and how long it is kept: erasure on request, and each server's retention.

Forgetting a member erases them from every record that names them in this server, at once and
in one transaction (what "every record" is, features register in `bot.storage.privacy`): their
calls are deleted and their usage is filed under a forgotten member, so the server's totals,
charts and budgets do not change; avatars, documents, history entries and limits they made stay,
without their name. A live call is still being billed, so it must end first. What the server's
limits still need of them is kept, with nothing else, until the limits no longer need it (their
seconds of today until the server's day ends, their last call's end while the wait after it
runs: `bot.storage.held_usage`); forgetting oneself is no way round a limit.

Retention is a server's choice (Manage Server): keep every session (the default), or only the
current month and the N before it. Older sessions, avatar videos and audit log entries are
deleted by the scheduled maintenance (`bot.services.maintenance`), in small batches; their
figures stay in the rollups, so reports of any period still add up, only the per-call detail
(CSV rows) and the history of changes (`/avatar history`) of those months are gone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Final
from zoneinfo import ZoneInfo

from bot.errors import InvalidInput
from bot.services import local_time
from bot.services.actors import Actor, Permissions
from bot.services.quotas import MAX_SECONDS as LONGEST_COOLDOWN
from bot.services.quotas import QuotaService
from bot.storage import Clock, GuildSettingsRepository, unix_now
from bot.storage.errors import InUseError
from bot.storage.held_usage import HeldUsage, HeldUsageRepository, HoldRules
from bot.storage.privacy import PrivacyRepository
from bot.storage.quotas import QuotaName
from bot.storage.retention import RetentionRepository

MAX_RETENTION_MONTHS: Final = 120
RETENTION_BATCH: Final = 500
"""Records of each kind deleted per write transaction: a few milliseconds of the write
connection."""


@dataclass(frozen=True, slots=True)
class Kept:
    """What the server's limits still hold of a forgotten member, and until when."""

    call_seconds: int  # of today's call allowance
    video_seconds: int  # of today's video allowance
    next_call_at: int | None  # the wait after their last call, if it still runs
    next_video_at: int | None  # the wait after their last video, if it still runs
    until: int  # then all of it is deleted


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What was erased, by kind of record (e.g. "calls": 12), in the order features registered,
    and what the limits keep for now (None: nothing)."""

    erased: dict[str, int]
    kept: Kept | None = None

    @property
    def total(self) -> int:
        return sum(self.erased.values())


class PrivacyService:
    def __init__(
        self,
        *,
        privacy: PrivacyRepository,
        held: HeldUsageRepository,
        retention: RetentionRepository,
        guilds: GuildSettingsRepository,
        quotas: QuotaService,
        clock: Clock = unix_now,
    ) -> None:
        self._privacy = privacy
        self._held = held
        self._retention = retention
        self._guilds = guilds
        self._quotas = quotas
        self._clock = clock

    async def forget(self, guild_id: int, actor: Actor) -> Forgotten:
        """Erase the actor from this server's records (only ever themselves), keeping what the
        server's limits in force still need of them."""
        settings = await self._quotas.settings(guild_id)
        rules = HoldRules(
            day=local_time.calendar(self._clock(), settings.timezone)[0],
            call_cooldown=settings.limits[QuotaName.COOLDOWN] or 0,
            video_cooldown=settings.limits[QuotaName.VIDEO_COOLDOWN] or 0,
        )
        try:
            erased = await self._privacy.forget(guild_id, actor.user_id, rules)
        except InUseError as busy:
            raise InvalidInput(
                f"You have {busy.what} here. {busy.until}, then ask again: nothing was erased."
            ) from None
        held = await self._held.get(guild_id, actor.user_id)
        return Forgotten(erased, None if held is None else _kept(held, rules))

    async def expire_held(self) -> int:
        """Delete what was kept of forgotten members once their limits no longer need it."""
        return await self._held.expire()

    async def retention_months(self, guild_id: int) -> int | None:
        """How many months of sessions the server keeps besides the current one (None: all)."""
        return (await self._guilds.get(guild_id)).retention_months

    async def set_retention(self, guild_id: int, actor: Actor, months: int | None) -> int | None:
        Permissions.require_admin(actor, doing="Choosing how long sessions are kept")
        if months is not None and not 1 <= months <= MAX_RETENTION_MONTHS:
            raise InvalidInput(
                f"Keep sessions for 1 to {MAX_RETENTION_MONTHS} months, or leave the number out "
                "to keep every session."
            )
        return (await self._guilds.update(guild_id, retention_months=months)).retention_months

    async def apply_retention(self, *, batch: int = RETENTION_BATCH) -> int:
        """Delete every server's sessions, avatar videos and audit log entries older than it
        keeps; returns how many records went."""
        deleted = 0
        for rule in await self._retention.rules():
            before = retention_cutoff(
                self._clock(), rule.months, local_time.zone_or_utc(rule.timezone)
            )
            while True:
                count = await self._retention.delete_batch(
                    rule.guild_id, started_before=before, limit=batch
                )
                deleted += count
                if count < batch:
                    break
                await asyncio.sleep(0)  # other writes get the connection between batches
        return deleted


def _kept(held: HeldUsage, rules: HoldRules) -> Kept:
    return Kept(
        call_seconds=held.call_seconds,
        video_seconds=held.video_seconds,
        next_call_at=None
        if held.call_ended_at is None
        else held.call_ended_at + rules.call_cooldown,
        next_video_at=None
        if held.video_counted_at is None
        else held.video_counted_at + rules.video_cooldown,
        until=held.expires_at,
    )


def retention_cutoff(now: int, months: int, tz: ZoneInfo) -> int:
    """Sessions that started before this are deleted: the start of the local month `months`
    before the current one, or earlier while a cooldown could still need a session's end."""
    first = local_time.local_date(local_time.month_period(now, tz).start, tz)
    back = first.year * 12 + first.month - 1 - months
    horizon = local_time.midnight(date(back // 12, back % 12 + 1, 1), tz)
    guard = local_time.month_period(now - LONGEST_COOLDOWN - 86_400, tz).start
    return min(horizon, guard)
