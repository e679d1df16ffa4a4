"""Per-server quotas: what a start may use, decided inside the reservation's transaction.

A guild's limits (each "unset": the default, "no limit", or a number, 0 meaning none allowed)
are bound with the member's roles and the guild's timezone into a `QuotaPolicy` inside each
start's transaction (`SessionRepository.admit`): the policy asks for today's and this month's
charges and the member's last end, fits the call to what is left, and admits the reservation
only if every limit still holds with it counted. That one transaction holds the admission
lock, so no burst of starts, at one process or several, can overshoot.
Refusals name the limit and when it frees up, in the server's timezone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from bot.clip import clip
from bot.errors import InvalidInput
from bot.services import local_time
from bot.services.actors import Actor, Permissions
from bot.services.amounts import TIME_LIMITS
from bot.services.durations import duration_text
from bot.storage import (
    Clock,
    GuildSettingsRepository,
    LimitReached,
    NewSession,
    Period,
    UsageQuery,
    UsageSnapshot,
    unix_now,
)
from bot.storage.quotas import QuotaName, QuotaRepository, StoredQuotas

HOUR: Final = 3_600
ACCOUNT_LIVE: Final = "account_live"
"""The refusal when every call slot of the Runway account is taken (or members wait for one)."""
MAX_COUNT: Final = 1_000
MAX_SECONDS: Final = 31 * 86_400


def default_limits(
    *, max_live_per_guild: int, session_max_seconds: int
) -> dict[QuotaName, int | None]:
    """What a guild gets for each limit it never set: generous enough to try the bot, tight
    enough that nobody spends the operator's Runway credits by accident."""
    return {
        QuotaName.MAX_AVATARS: 10,
        QuotaName.GUILD_DAY: 2 * HOUR,
        QuotaName.GUILD_MONTH: 20 * HOUR,
        QuotaName.MEMBER_DAY: 15 * 60,
        QuotaName.GUILD_LIVE: max_live_per_guild,
        QuotaName.MEMBER_LIVE: 1,
        QuotaName.COOLDOWN: 0,
        QuotaName.SESSION: session_max_seconds,
        QuotaName.VIDEO_GUILD_DAY: 15 * 60,
        QuotaName.VIDEO_MEMBER_DAY: 3 * 60,
        QuotaName.VIDEO_COOLDOWN: 60,
    }


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """A guild's limits in force (None: no limit), and which of them it set itself."""

    guild_id: int
    limits: Mapping[QuotaName, int | None]
    custom: frozenset[QuotaName]
    role_tiers: Mapping[int, int | None]
    timezone: ZoneInfo
    alert_channel_id: int | None

    def member_day(self, role_ids: frozenset[int]) -> int | None:
        """The most generous of the guild's daily allowance and the tiers of `role_ids`."""
        allowances = [self.limits[QuotaName.MEMBER_DAY]]
        allowances += [seconds for role, seconds in self.role_tiers.items() if role in role_ids]
        return None if None in allowances else max(a for a in allowances if a is not None)

    def policy(
        self, actor: Actor, *, account_slots: int | None = None, yield_to_line: bool = False
    ) -> QuotaPolicy:
        return QuotaPolicy(
            limits=self.limits,
            member_day=self.member_day(actor.role_ids),
            timezone=self.timezone,
            account_slots=account_slots,
            yield_to_line=yield_to_line,
        )


@dataclass(frozen=True, slots=True)
class Headroom:
    """One budget for one start: how much it allows, how much is charged, when it resets."""

    limit: str
    allowed: int
    used: int
    resets_at: int

    @property
    def left(self) -> int:
        return max(0, self.allowed - self.used)


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """The guild's limits bound to one member's daily allowance: an `AdmissionPolicy`.

    `admit` runs inside the reservation's transaction, so it is arithmetic only.
    """

    limits: Mapping[QuotaName, int | None]
    member_day: int | None
    timezone: ZoneInfo
    account_slots: int | None = None
    """Calls the Runway account may run at once, across every server (None: not checked)."""
    yield_to_line: bool = False
    """A free slot is refused while members wait in line for one (they come first)."""

    def usage_query(self, now: int) -> UsageQuery:
        day, month = local_time.calendar(now, self.timezone)
        periods: list[Period] = []
        if self.member_day is not None or self.limits[QuotaName.GUILD_DAY] is not None:
            periods.append(day)
        if self.limits[QuotaName.GUILD_MONTH] is not None:
            periods.append(month)
        return UsageQuery(
            periods=tuple(periods),
            member_last_end=bool(self._cooldown),
            account=self.account_slots is not None,
        )

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None:
        refusals = self.refusals(request.max_seconds, usage, now)
        if refusals:
            raise refusals[0]

    def refusals(self, seconds: int, usage: UsageSnapshot, now: int) -> list[LimitReached]:
        """Every limit a start of `seconds` would break, the one that frees up last first
        (what the member must wait for); limits freed by a session ending come last."""
        found: list[LimitReached] = []
        longest = self.limits[QuotaName.SESSION]
        if longest is not None and seconds > longest:
            found.append(LimitReached("session_length", longest, seconds))
        found += [
            LimitReached(room.limit, room.allowed, room.used, room.resets_at)
            for room in self.headroom(usage, now)
            if room.used + seconds > room.allowed
        ]
        if self._cooldown and usage.member_last_ended_at is not None:
            free_at = usage.member_last_ended_at + self._cooldown
            if free_at > now:
                found.append(
                    LimitReached(
                        "cooldown", self._cooldown, now - usage.member_last_ended_at, free_at
                    )
                )
        for limit, live, cap in (
            ("member_live", usage.member_live, self.limits[QuotaName.MEMBER_LIVE]),
            ("guild_live", usage.guild_live, self.limits[QuotaName.GUILD_LIVE]),
        ):
            if cap is not None and live >= cap:
                found.append(LimitReached(limit, cap, live))
        slots = self.account_slots
        if slots is not None and (
            usage.account_live >= slots or (self.yield_to_line and usage.account_waiting > 0)
        ):
            # Last of all (the sort is stable): waiting in line is worth it only when no
            # other limit stands in the way.
            found.append(LimitReached(ACCOUNT_LIVE, slots, usage.account_live))
        found.sort(key=lambda refusal: -(refusal.frees_at or 0))
        return found

    def headroom(self, usage: UsageSnapshot, now: int) -> list[Headroom]:
        """The time budgets that apply, with what is charged to them (live sessions count
        with their whole reservation)."""
        day, month = local_time.calendar(now, self.timezone)
        budgets = (
            ("member_day", self.member_day, day, True),
            ("guild_day", self.limits[QuotaName.GUILD_DAY], day, False),
            ("guild_month", self.limits[QuotaName.GUILD_MONTH], month, False),
        )
        rooms = []
        for limit, allowed, period, per_member in budgets:
            if allowed is None:
                continue
            charged = usage.periods[period]
            used = charged.member_seconds if per_member else charged.guild_seconds
            rooms.append(Headroom(limit, allowed, used, period.end))
        return rooms

    def fit(self, wanted: int, usage: UsageSnapshot, now: int) -> int:
        """The longest session up to `wanted` seconds that the time budgets and the longest-
        session limit still allow (0 when none is left)."""
        caps = [wanted, *(room.left for room in self.headroom(usage, now))]
        longest = self.limits[QuotaName.SESSION]
        if longest is not None:
            caps.append(longest)
        return max(0, min(caps))

    def explain(self, limit: LimitReached, now: int) -> str:
        return explain(limit, self.timezone, now)

    @property
    def _cooldown(self) -> int:
        return self.limits[QuotaName.COOLDOWN] or 0


@dataclass(frozen=True, slots=True)
class FittedPolicy:
    """A server's limits bound to one member, and the lengths Runway takes: how a start (and
    the waiting line giving a slot) is fitted and admitted inside its transaction."""

    quotas: QuotaPolicy
    clamp: Callable[[int], int]
    """Runway's shortest and longest call (`RunwayClient.rules.clamp_session_seconds`)."""

    def usage_query(self, now: int) -> UsageQuery:
        return self.quotas.usage_query(now)

    def fit(self, wanted: int, usage: UsageSnapshot, now: int) -> int:
        return self.clamp(self.quotas.fit(wanted, usage, now))

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None:
        self.quotas.admit(request, usage, now)


@dataclass(frozen=True, slots=True)
class Allowance:
    """What a member may still use here, as `/quota show` and the call summary tell it."""

    member_day: Headroom | None
    guild_day: Headroom | None
    guild_month: Headroom | None
    member_live: int
    member_live_cap: int | None
    guild_live: int
    guild_live_cap: int | None
    longest_session: int | None
    cooldown: int
    next_start_at: int | None  # when the cooldown lets the member start again, if later
    timezone: str


class QuotaService:
    def __init__(
        self,
        *,
        quotas: QuotaRepository,
        guilds: GuildSettingsRepository,
        defaults: Mapping[QuotaName, int | None],
        account_slots: int | None = None,
        clock: Clock = unix_now,
    ) -> None:
        self._quotas = quotas
        self._guilds = guilds
        self._defaults = dict(defaults)
        self._account_slots = account_slots
        self._clock = clock

    @property
    def account_slots(self) -> int | None:
        """Calls the Runway account may run at once (RUNWAY_MAX_LIVE_SESSIONS)."""
        return self._account_slots

    async def settings(self, guild_id: int) -> QuotaSettings:
        return self.resolve(await self._quotas.get(guild_id))

    def start_policy(
        self, actor: Actor, clamp: Callable[[int], int]
    ) -> Callable[[StoredQuotas], FittedPolicy]:
        """How a member's start is fitted and admitted, given the server's quota records as
        the start's own transaction reads them (`SessionRepository.admit`): every limit, the
        account's call slots, and members already waiting in line come first."""

        def bind(stored: StoredQuotas) -> FittedPolicy:
            quotas = self.resolve(stored).policy(
                actor, account_slots=self._account_slots, yield_to_line=True
            )
            return FittedPolicy(quotas, clamp)

        return bind

    async def allowance(
        self, guild_id: int, actor: Actor, member: Actor | None = None
    ) -> Allowance:
        """What `member` (by default the actor) may still use; only admins look at others."""
        member = member or actor
        if member.user_id != actor.user_id:
            Permissions.require_admin(actor, doing="Seeing another member's allowance")
        settings, usage, now = await self._facts(guild_id, member)
        rooms = {room.limit: room for room in settings.policy(member).headroom(usage, now)}
        cooldown = settings.limits[QuotaName.COOLDOWN] or 0
        last_end = usage.member_last_ended_at
        next_start = None if last_end is None or last_end + cooldown <= now else last_end + cooldown
        return Allowance(
            member_day=rooms.get("member_day"),
            guild_day=rooms.get("guild_day"),
            guild_month=rooms.get("guild_month"),
            member_live=usage.member_live,
            member_live_cap=settings.limits[QuotaName.MEMBER_LIVE],
            guild_live=usage.guild_live,
            guild_live_cap=settings.limits[QuotaName.GUILD_LIVE],
            longest_session=settings.limits[QuotaName.SESSION],
            cooldown=cooldown,
            next_start_at=next_start,
            timezone=settings.timezone.key,
        )

    async def max_avatars(self, guild_id: int) -> int | None:
        """The avatar limit to pass to `AvatarService.create` (None: no limit)."""
        return (await self.settings(guild_id)).limits[QuotaName.MAX_AVATARS]

    # Changing the limits: Manage Server only

    async def set_limit(
        self,
        guild_id: int,
        actor: Actor,
        name: QuotaName,
        value: int | None,
        *,
        role_id: int | None = None,
    ) -> QuotaSettings:
        """Set a limit (None: no limit); with `role_id`, that role's daily allowance per member
        instead, which only the per-member daily limit has."""
        Permissions.require_admin(actor, doing="Changing this server's limits")
        _check_bounds(name, value, self._defaults[QuotaName.SESSION])
        if role_id is None:
            await self._quotas.set_limit(guild_id, name, value, actor_id=actor.user_id)
        elif name is QuotaName.MEMBER_DAY:
            await self._quotas.set_tier(guild_id, role_id, value, actor_id=actor.user_id)
        else:
            raise InvalidInput(
                "Only the call time per member per day can differ by role; "
                "leave out the role for the other limits."
            )
        return await self.settings(guild_id)

    async def set_timezone(self, guild_id: int, actor: Actor, name: str) -> QuotaSettings:
        Permissions.require_admin(actor, doing="Changing this server's timezone")
        try:
            tz = local_time.zone(name)
        except ValueError:
            raise InvalidInput(
                f"I don't know the timezone {clip(name, 64)!r}. Use a name such as Europe/Paris, "
                "America/New_York or UTC (the option suggests them as you type)."
            ) from None
        await self._guilds.update(guild_id, timezone=tz.key)
        return await self.settings(guild_id)

    async def set_alert_channel(
        self, guild_id: int, actor: Actor, channel_id: int | None
    ) -> QuotaSettings:
        Permissions.require_admin(actor, doing="Choosing the alert channel")
        await self._guilds.update(guild_id, alert_channel_id=channel_id)
        return await self.settings(guild_id)

    async def reset_limit(self, guild_id: int, actor: Actor, name: QuotaName) -> QuotaSettings:
        Permissions.require_admin(actor, doing="Changing this server's limits")
        await self._quotas.clear_limits(guild_id, [name])
        return await self.settings(guild_id)

    async def reset_role_tier(self, guild_id: int, actor: Actor, role_id: int) -> QuotaSettings:
        Permissions.require_admin(actor, doing="Changing this server's limits")
        await self._quotas.clear_tier(guild_id, role_id)
        return await self.settings(guild_id)

    async def reset_all(self, guild_id: int, actor: Actor) -> QuotaSettings:
        """Every limit and role tier back to the defaults, the timezone back to UTC."""
        Permissions.require_admin(actor, doing="Resetting this server's limits")
        await self._quotas.clear_all(guild_id)
        await self._guilds.update(guild_id, timezone=local_time.UTC_ZONE.key)
        return await self.settings(guild_id)

    def resolve(self, stored: StoredQuotas) -> QuotaSettings:
        """A guild's records with the defaults filled in (pure: the waiting line calls it
        inside the transaction that gives a slot)."""
        return QuotaSettings(
            guild_id=stored.guild_id,
            limits=self._defaults | dict(stored.limits),
            custom=frozenset(stored.limits),
            role_tiers=stored.role_tiers,
            timezone=local_time.zone_or_utc(stored.timezone),
            alert_channel_id=stored.alert_channel_id,
        )

    async def _facts(
        self, guild_id: int, member: Actor
    ) -> tuple[QuotaSettings, UsageSnapshot, int]:
        """The guild's settings and the member's usage now, read in one trip."""
        now = self._clock()
        stored, usage = await self._quotas.start_facts(
            guild_id,
            member.user_id,
            lambda name: local_time.calendar(now, local_time.zone_or_utc(name)),
        )
        return self.resolve(stored), usage, now


def _check_bounds(name: QuotaName, value: int | None, operator_longest: int | None) -> None:
    if value is None:
        return
    if name in TIME_LIMITS:
        if value > MAX_SECONDS:
            raise InvalidInput("Time limits go up to 31 days; use `unlimited` for no limit.")
    elif value > MAX_COUNT:
        raise InvalidInput(f"Counts go up to {MAX_COUNT}; use `unlimited` for no limit.")
    if name is QuotaName.SESSION and operator_longest is not None and value > operator_longest:
        raise InvalidInput(
            f"This bot's operator lets calls last {duration_text(operator_longest)} at most "
            "(SESSION_MAX_MINUTES)."
        )


# What a refused member reads

_WAIT_FOR_A_SESSION: Final = {
    "member_live": "You already have a live session here. End it with `/session end` first.",
    "guild_live": "This server has as many live sessions as it allows right now; "
    "try again when one ends.",
    ACCOUNT_LIVE: "Every call slot of this bot is busy right now; try again when one ends.",
}


def explain(limit: LimitReached, tz: ZoneInfo, now: int) -> str:
    """Which limit refused a start and when it frees up, e.g. "Your daily 10 min are used;
    they reset in 3 h 12 min (at 00:00 Europe/Paris)." Names only the limit that frees last
    (see `QuotaPolicy.refusals`), the one the member really waits for."""
    name = limit.limit
    if limit.allowed == 0 and name in _NONE_ALLOWED:
        return _NONE_ALLOWED[name]
    if name in _WAIT_FOR_A_SESSION:
        return _WAIT_FOR_A_SESSION[name]
    if name == "session_length":
        return f"Calls here may last {duration_text(limit.allowed)} at most; ask for a shorter one."
    if name == "cooldown":
        return (
            f"This server asks for {duration_text(limit.allowed)} between a member's calls; "
            f"you can start another {local_time.until_text(limit.frees_at, tz, now)}."
        )
    if name == "guild_avatars":
        return f"This server has reached its limit of {limit.allowed} avatars."
    whose = _BUDGET_WORDS.get(name)
    if whose is None:
        return f"A limit of this server is reached ({name})."
    allowed, left = duration_text(limit.allowed), limit.allowed - limit.current
    spent = (
        f"{whose} {allowed} are used"
        if left <= 0
        else f"Only {duration_text(left)} of {whose.lower()} {allowed} are left: too little"
    )
    return f"{spent}; they reset {local_time.until_text(limit.frees_at, tz, now)}."


_BUDGET_WORDS: Final = {
    "member_day": "Your daily",
    "guild_day": "This server's daily",
    "guild_month": "This server's monthly",
}

_NONE_ALLOWED: Final = {
    "member_day": "Your roles give you no call time in this server.",
    "member_live": "Members of this server cannot start calls at the moment.",
    "guild_live": "This server allows no calls at the moment.",
    "guild_day": "This server allows no calls at the moment.",
    "guild_month": "This server allows no calls at the moment.",
    "session_length": "This server allows no calls at the moment.",
}
