"""Video time: the limits `/avatar say` is held to, decided inside the request's transaction.

Three limits an admin sets with `/quota set` (see `default_limits`): video seconds a day for
the server and for each member, and a wait between a member's requests; and one fixed rule,
one request in flight per member (waiting for approval, or being rendered), so nobody fills
the review channel or Runway's queue. Video time is its own budget, apart from call time,
with its own alert (`bot.services.alerts`): a server that wants calls and not videos (or the
other way round) sets one to 0 without touching the other.

A request reserves an estimate (the recording's length, or the time a voice takes to speak
the text, on the long side) and is settled to the real length Runway made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from bot.errors import LimitReached as Refused
from bot.services import local_time
from bot.services.actors import Actor, Permissions
from bot.services.durations import duration_text
from bot.services.quotas import Headroom, QuotaService, QuotaSettings
from bot.storage import Clock, LimitReached, Period, unix_now
from bot.storage.quotas import QuotaName
from bot.storage.video_charges import VideoFacts
from bot.storage.videos import VideoRepository

IN_FLIGHT_PER_MEMBER: Final = 1


@dataclass(frozen=True, slots=True)
class VideoPolicy:
    """A guild's video limits bound to its timezone: a `VideoAdmission`."""

    guild_day: int | None
    member_day: int | None
    cooldown: int
    timezone: ZoneInfo

    @classmethod
    def of(cls, settings: QuotaSettings) -> VideoPolicy:
        return cls(
            guild_day=settings.limits[QuotaName.VIDEO_GUILD_DAY],
            member_day=settings.limits[QuotaName.VIDEO_MEMBER_DAY],
            cooldown=settings.limits[QuotaName.VIDEO_COOLDOWN] or 0,
            timezone=settings.timezone,
        )

    def day(self, now: int) -> Period:
        return local_time.calendar(now, self.timezone)[0]

    def admit(self, seconds: int, facts: VideoFacts, now: int) -> None:
        refusals = self.refusals(seconds, facts, now)
        if refusals:
            raise refusals[0]

    def refusals(self, seconds: int, facts: VideoFacts, now: int) -> list[LimitReached]:
        """Every limit a request of `seconds` would break, the one that frees last first."""
        found: list[LimitReached] = []
        for room in self.headroom(facts, now):
            if room.used + seconds > room.allowed:
                found.append(LimitReached(room.limit, room.allowed, room.used, room.resets_at))
        if self.cooldown and facts.member_last_at is not None:
            free_at = facts.member_last_at + self.cooldown
            if free_at > now:
                found.append(
                    LimitReached(
                        "video_cooldown", self.cooldown, now - facts.member_last_at, free_at
                    )
                )
        if facts.member_in_flight >= IN_FLIGHT_PER_MEMBER:
            found.append(
                LimitReached("video_in_flight", IN_FLIGHT_PER_MEMBER, facts.member_in_flight)
            )
        found.sort(key=lambda refusal: -(refusal.frees_at or 0))
        return found

    def headroom(self, facts: VideoFacts, now: int) -> list[Headroom]:
        resets = self.day(now).end
        rooms = []
        for limit, allowed, used in (
            ("video_member_day", self.member_day, facts.member_day_seconds),
            ("video_guild_day", self.guild_day, facts.guild_day_seconds),
        ):
            if allowed is not None:
                rooms.append(Headroom(limit, allowed, used, resets))
        return rooms

    def explain(self, limit: LimitReached, seconds: int, now: int) -> str:
        return explain(limit, seconds, self.timezone, now)


@dataclass(frozen=True, slots=True)
class VideoAllowance:
    """What a member may still ask for today, as `/quota show` tells it."""

    member_day: Headroom | None
    guild_day: Headroom | None
    cooldown: int
    next_request_at: int | None
    in_flight: int


class VideoQuotas:
    def __init__(
        self, *, quotas: QuotaService, videos: VideoRepository, clock: Clock = unix_now
    ) -> None:
        self._quotas = quotas
        self._videos = videos
        self._clock = clock

    async def policy(self, guild_id: int) -> VideoPolicy:
        return VideoPolicy.of(await self._quotas.settings(guild_id))

    async def check(self, guild_id: int, actor: Actor, seconds: int) -> VideoPolicy:
        """Refuse early (before a recording is checked or a form filled) what admission would
        refuse now; the request's transaction checks again."""
        policy = await self.policy(guild_id)
        now = self._clock()
        facts = await self._videos.facts(guild_id, actor.user_id, policy.day(now))
        refusals = policy.refusals(seconds, facts, now)
        if refusals:
            raise_refusal(policy, refusals[0], seconds, now)
        return policy

    async def allowance(
        self, guild_id: int, actor: Actor, member: Actor | None = None
    ) -> VideoAllowance:
        member = member or actor
        if member.user_id != actor.user_id:
            Permissions.require_admin(actor, doing="Seeing another member's allowance")
        policy = await self.policy(guild_id)
        now = self._clock()
        facts = await self._videos.facts(guild_id, member.user_id, policy.day(now))
        rooms = {room.limit: room for room in policy.headroom(facts, now)}
        last = facts.member_last_at
        next_at = None if last is None or last + policy.cooldown <= now else last + policy.cooldown
        return VideoAllowance(
            member_day=rooms.get("video_member_day"),
            guild_day=rooms.get("video_guild_day"),
            cooldown=policy.cooldown,
            next_request_at=next_at,
            in_flight=facts.member_in_flight,
        )


def raise_refusal(policy: VideoPolicy, limit: LimitReached, seconds: int, now: int) -> None:
    raise Refused(policy.explain(limit, seconds, now), limit=limit.limit)


_WHOSE: Final = {"video_member_day": "Your", "video_guild_day": "This server's"}


def explain(limit: LimitReached, seconds: int, tz: ZoneInfo, now: int) -> str:
    """Which video limit refused a request, and when it frees up."""
    name = limit.limit
    if name == "video_in_flight":
        return (
            "You already have a video on its way here: wait until it is posted (or cancel it), "
            "then ask for the next."
        )
    if name == "video_cooldown":
        return (
            f"This server asks for {duration_text(limit.allowed)} between a member's videos; "
            f"you can ask for another {local_time.until_text(limit.frees_at, tz, now)}."
        )
    whose = _WHOSE.get(name, "A")
    if limit.allowed == 0:
        return (
            "Your roles give you no video time in this server."
            if name == "video_member_day"
            else "This server allows no avatar videos at the moment."
        )
    left = max(0, limit.allowed - limit.current)
    when = local_time.until_text(limit.frees_at, tz, now)
    if left <= 0:
        allowed = duration_text(limit.allowed)
        return f"{whose} {allowed} of video for today are used; they reset {when}."
    return (
        f"This video needs about {duration_text(seconds)}, but only {duration_text(left)} of "
        f"{whose.lower()} {duration_text(limit.allowed)} of video for today are left. Make it "
        f"shorter, or wait until they reset {when}."
    )
