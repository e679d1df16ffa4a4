"""Quotas below Discord: the limit arithmetic, local days and months, settings and refusals."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.errors import InvalidInput, NotAllowed
from bot.services import local_time
from bot.services.actors import Actor
from bot.services.amounts import describe, parse_amount
from bot.services.quotas import QuotaPolicy, QuotaService, default_limits, explain
from bot.settings import Dialect
from bot.storage import (
    EndReason,
    LimitReached,
    NewSession,
    Period,
    PeriodUsage,
    SessionRepository,
    UsageSnapshot,
)
from bot.storage.quotas import QuotaName
from tests.services.conftest import ADMIN, GUILD, MEMBER, World

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC
UTC_ZONE = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")
DEFAULTS = default_limits(max_live_per_guild=3, session_max_seconds=300)
# Zones with odd clocks: DST at midnight (Santiago, Havana, Beirut), half-hour DST (Lord Howe),
# a skipped day (Apia, 2011), southern-hemisphere DST, and plain ones.
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
]
instants = st.integers(datetime(2000, 1, 1, tzinfo=UTC).timestamp(), 2_200_000_000)


def policy(tz: ZoneInfo = UTC_ZONE, member_day: int | None = 600, **changes: int | None):
    limits = DEFAULTS | {QuotaName(name): value for name, value in changes.items()}
    return QuotaPolicy(limits=limits, member_day=member_day, timezone=tz)


def snapshot(
    p: QuotaPolicy,
    now: int,
    *,
    day_guild: int = 0,
    day_member: int = 0,
    month_guild: int = 0,
    guild_live: int = 0,
    member_live: int = 0,
    last_end: int | None = None,
) -> UsageSnapshot:
    day = local_time.day_period(now, p.timezone)
    month = local_time.month_period(now, p.timezone)
    return UsageSnapshot(
        guild_live=guild_live,
        member_live=member_live,
        periods={
            day: PeriodUsage(day_guild, day_member),
            month: PeriodUsage(month_guild, day_member),
        },
        member_last_ended_at=last_end,
    )


def request(seconds: int = 300) -> NewSession:
    return NewSession(
        guild_id=GUILD,
        member_id=MEMBER.user_id,
        avatar_label="x",
        dialect=Dialect.PRODUCTION,
        max_seconds=seconds,
    )


# Local days and months


@settings(max_examples=400, deadline=None)
@given(moment=instants, name=st.sampled_from(ZONES))
@example(moment=1_301_187_600, name="Pacific/Apia")  # around 2011-12-30, a day that never was
@example(moment=int(datetime(2023, 9, 3, 3, 30, tzinfo=UTC).timestamp()), name="America/Santiago")
@example(moment=int(datetime(2023, 3, 26, 1, 30, tzinfo=UTC).timestamp()), name="Europe/Paris")
@example(moment=int(datetime(2023, 10, 29, 0, 30, tzinfo=UTC).timestamp()), name="Europe/Paris")
def test_days_and_months_contain_the_moment_and_tile_time(moment: int, name: str) -> None:
    tz = ZoneInfo(name)
    day = local_time.day_period(moment, tz)
    month = local_time.month_period(moment, tz)
    assert day.start <= moment < day.end
    assert month.start <= day.start
    assert day.end <= month.end
    # The neighbours meet exactly: no gap, no overlap.
    assert local_time.day_period(day.end, tz).start == day.end
    assert local_time.day_period(day.start - 1, tz).end == day.start
    assert local_time.month_period(month.end, tz).start == month.end
    assert local_time.previous_month_period(moment, tz).end == month.start
    # A day lasts 24 h give or take a clock change; a month 28 to 31 such days.
    assert 22 * 3600 <= day.end - day.start <= 26 * 3600 or name == "Pacific/Apia"
    assert 27 * 86_400 <= month.end - month.start <= 32 * 86_400
    # Boundaries are local midnights, or the jump that replaced one.
    start_local = datetime.fromtimestamp(day.start, tz)
    assert start_local.time() <= datetime.min.time().replace(hour=1)


@settings(max_examples=200, deadline=None)
@given(moment=instants, name=st.sampled_from(ZONES), days=st.integers(1, 40))
def test_day_starts_split_a_period_into_its_local_days(moment: int, name: str, days: int) -> None:
    tz = ZoneInfo(name)
    first = local_time.day_period(moment, tz)
    last = local_time.day_period(first.start + (days - 1) * 86_400 + 3600, tz)
    bounds = local_time.day_starts(Period(first.start, last.end), tz)
    assert bounds[0] == first.start
    assert bounds[-1] == last.end
    assert list(bounds) == sorted(set(bounds))
    for start, end in itertools.pairwise(bounds):
        assert local_time.day_period(start, tz) == Period(start, end)


def test_dst_days_last_23_and_25_hours_in_paris() -> None:
    spring = local_time.day_period(int(datetime(2024, 3, 31, 12, tzinfo=UTC).timestamp()), PARIS)
    autumn = local_time.day_period(int(datetime(2024, 10, 27, 12, tzinfo=UTC).timestamp()), PARIS)
    assert spring.end - spring.start == 23 * 3600
    assert autumn.end - autumn.start == 25 * 3600
    assert datetime.fromtimestamp(spring.start, PARIS).isoformat() == "2024-03-31T00:00:00+01:00"


def test_a_midnight_that_never_was_starts_the_day_at_the_jump() -> None:
    # Santiago moved its clocks from 00:00 to 01:00 on 2023-09-03.
    tz = ZoneInfo("America/Santiago")
    day = local_time.day_period(int(datetime(2023, 9, 3, 12, tzinfo=UTC).timestamp()), tz)
    assert datetime.fromtimestamp(day.start, tz).isoformat() == "2023-09-03T01:00:00-03:00"
    assert day.end - day.start == 23 * 3600


def test_zone_names_are_found_in_any_case() -> None:
    assert local_time.zone("europe/paris").key == "Europe/Paris"
    assert local_time.zone(" utc ").key == "UTC"
    with pytest.raises(ValueError, match="unknown timezone"):
        local_time.zone("Mars/Olympus_Mons")
    assert local_time.zone_names("paris") == ["Europe/Paris"]
    assert local_time.zone_names("new york")[0] == "America/New_York"
    assert len(local_time.zone_names("")) == 25


# The admission arithmetic


def test_every_limit_refuses_with_its_name_and_when_it_frees() -> None:
    now = T0
    day_end = local_time.day_period(now, UTC_ZONE).end
    month_end = local_time.month_period(now, UTC_ZONE).end
    cases = [
        (policy(), snapshot(policy(), now, day_member=400), "member_day", day_end),
        (
            policy(guild_day_seconds=1000),
            snapshot(policy(), now, day_guild=800),
            "guild_day",
            day_end,
        ),
        (
            policy(guild_month_seconds=5000),
            snapshot(policy(), now, month_guild=4800),
            "guild_month",
            month_end,
        ),
        (
            policy(cooldown_seconds=120),
            snapshot(policy(), now, last_end=now - 30),
            "cooldown",
            now + 90,
        ),
        (policy(), snapshot(policy(), now, member_live=1), "member_live", None),
        (policy(), snapshot(policy(), now, guild_live=3), "guild_live", None),
        (policy(session_seconds=120), snapshot(policy(), now), "session_length", None),
    ]
    for p, usage, limit, frees_at in cases:
        with pytest.raises(LimitReached) as refused:
            p.admit(request(300), usage, now)
        assert (refused.value.limit, refused.value.frees_at) == (limit, frees_at)


def test_a_start_that_fits_exactly_is_admitted_and_live_sessions_count_whole() -> None:
    p = policy(member_day=600, guild_day_seconds=900)
    p.admit(request(300), snapshot(p, T0, day_member=300, day_guild=600), T0)
    with pytest.raises(LimitReached):
        p.admit(request(301), snapshot(p, T0, day_member=300, day_guild=600), T0)


def test_unlimited_limits_ask_for_nothing() -> None:
    p = QuotaPolicy(limits=dict.fromkeys(QuotaName), member_day=None, timezone=UTC_ZONE)
    query = p.usage_query(T0)
    assert (query.periods, query.member_last_end) == ((), False)
    p.admit(request(10**6), UsageSnapshot(99, 99, {}, T0), T0)


def test_the_refusal_named_is_the_one_that_frees_last() -> None:
    p = policy(guild_month_seconds=1000, cooldown_seconds=60)
    usage = snapshot(p, T0, day_member=600, month_guild=1000, member_live=1, last_end=T0 - 1)
    names = [refusal.limit for refusal in p.refusals(300, usage, T0)]
    assert names == ["guild_month", "member_day", "cooldown", "member_live"]


@settings(max_examples=300, deadline=None)
@given(
    limits=st.fixed_dictionaries(
        {
            "guild_day_seconds": st.none() | st.integers(0, 3000),
            "guild_month_seconds": st.none() | st.integers(0, 9000),
            "session_seconds": st.none() | st.integers(0, 900),
        }
    ),
    member_day=st.none() | st.integers(0, 1500),
    used=st.tuples(st.integers(0, 3000), st.integers(0, 1500), st.integers(0, 9000)),
    wanted=st.integers(1, 1800),
    moment=instants,
    name=st.sampled_from(ZONES),
)
def test_fit_is_the_longest_start_admission_accepts(
    limits: dict[str, int | None],
    member_day: int | None,
    used: tuple[int, int, int],
    wanted: int,
    moment: int,
    name: str,
) -> None:
    p = policy(ZoneInfo(name), member_day=member_day, **limits)
    usage = snapshot(p, moment, day_guild=used[0], day_member=used[1], month_guild=used[2])
    fitted = p.fit(wanted, usage, moment)
    assert 0 <= fitted <= wanted
    if fitted > 0:
        assert p.refusals(fitted, usage, moment) == []
    if fitted < wanted:
        assert p.refusals(fitted + 1, usage, moment) != []


@settings(max_examples=200, deadline=None)
@given(moment=instants, name=st.sampled_from(ZONES), spent=st.integers(600, 5000))
def test_a_spent_daily_allowance_frees_at_the_next_local_midnight(
    moment: int, name: str, spent: int
) -> None:
    tz = ZoneInfo(name)
    p = policy(tz, member_day=600)
    [refusal] = p.refusals(60, snapshot(p, moment, day_member=spent), moment)
    assert refusal.frees_at is not None
    assert refusal.frees_at > moment
    assert local_time.day_period(refusal.frees_at, tz).start == refusal.frees_at
    assert refusal.frees_at == local_time.day_period(moment, tz).end


def test_explain_names_the_limit_and_when_it_frees() -> None:
    now = int(datetime(2024, 5, 2, 20, 48, tzinfo=UTC).timestamp())
    midnight = int(datetime(2024, 5, 3, tzinfo=UTC).timestamp())
    assert (
        explain(LimitReached("member_day", 600, 600, midnight), UTC_ZONE, now)
        == "Your daily 10 min are used; they reset in 3 h 12 min (at 00:00 UTC)."
    )
    paris_midnight = int(datetime(2024, 5, 2, 22, tzinfo=UTC).timestamp())
    assert explain(LimitReached("guild_day", 7200, 7195, paris_midnight), PARIS, now) == (
        "Only 5 s of this server's daily 2 h are left: too little; "
        "they reset in 1 h 12 min (at 00:00 Europe/Paris)."
    )
    assert "30 min between a member's calls" in explain(
        LimitReached("cooldown", 1800, 60, now + 1740), UTC_ZONE, now
    )
    assert "at 01 Jun 00:00" in explain(
        LimitReached("guild_month", 3600, 3600, int(datetime(2024, 6, 1, tzinfo=UTC).timestamp())),
        UTC_ZONE,
        now,
    )
    assert "/session end" in explain(LimitReached("member_live", 1, 1), UTC_ZONE, now)
    assert explain(LimitReached("member_day", 0, 0, midnight), UTC_ZONE, now) == (
        "Your roles give you no call time in this server."
    )


# What admins type


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [
        ("10", 600),
        ("1h30", 5400),
        ("1.5 h", 5400),
        ("90 min", 5400),
        ("2 hours 5 minutes", 7500),
        ("45s", 45),
        ("1d", 86_400),
        ("0", 0),
        ("Unlimited", None),
    ],
)
def test_durations_are_read_in_minutes_unless_a_unit_says(typed: str, seconds: int | None) -> None:
    assert parse_amount(QuotaName.MEMBER_DAY, typed) == seconds


@pytest.mark.parametrize("typed", ["", "ten", "1h-30", "5 parsecs", "-3"])
def test_unreadable_amounts_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(QuotaName.MEMBER_DAY, typed)
    with pytest.raises(InvalidInput):
        parse_amount(QuotaName.GUILD_LIVE, typed or "1.5")


def test_amounts_read_back_as_typed() -> None:
    assert parse_amount(QuotaName.GUILD_LIVE, "4") == 4
    assert describe(QuotaName.GUILD_LIVE, 0) == "none allowed"
    assert describe(QuotaName.MEMBER_DAY, 5400) == "1 h 30 min"
    assert describe(QuotaName.COOLDOWN, 0) == "no wait"
    assert describe(QuotaName.GUILD_MONTH, None) == "unlimited"


# The service on a real database


def quotas(world: World) -> QuotaService:
    return world.services.quotas


async def test_members_get_the_defaults_until_an_admin_changes_them(world: World) -> None:
    settings_ = await quotas(world).settings(GUILD)
    assert settings_.limits[QuotaName.MEMBER_DAY] == 15 * 60
    assert settings_.limits[QuotaName.GUILD_LIVE] == 3
    assert settings_.custom == frozenset()
    changed = await quotas(world).set_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY, 600)
    assert changed.limits[QuotaName.MEMBER_DAY] == 600
    assert changed.custom == {QuotaName.MEMBER_DAY}
    back = await quotas(world).reset_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY)
    assert back.limits[QuotaName.MEMBER_DAY] == 15 * 60


async def test_only_manage_server_changes_limits(world: World) -> None:
    service = quotas(world)
    for change in (
        service.set_limit(GUILD, MEMBER, QuotaName.MEMBER_DAY, 60),
        service.set_limit(GUILD, MEMBER, QuotaName.MEMBER_DAY, None, role_id=5),
        service.set_timezone(GUILD, MEMBER, "UTC"),
        service.set_alert_channel(GUILD, MEMBER, 1),
        service.reset_all(GUILD, MEMBER),
    ):
        with pytest.raises(NotAllowed):
            await change
    assert (await service.settings(GUILD)).custom == frozenset()


async def test_bounds_and_the_operators_longest_call_hold(world: World) -> None:
    service = quotas(world)
    with pytest.raises(InvalidInput, match="at most"):
        await service.set_limit(GUILD, ADMIN, QuotaName.SESSION, 600)  # operator: 5 min
    with pytest.raises(InvalidInput, match="31 days"):
        await service.set_limit(GUILD, ADMIN, QuotaName.GUILD_MONTH, 40 * 86_400)
    with pytest.raises(InvalidInput, match="1000"):
        await service.set_limit(GUILD, ADMIN, QuotaName.GUILD_LIVE, 5000)
    with pytest.raises(InvalidInput, match="timezone"):
        await service.set_timezone(GUILD, ADMIN, "Atlantis/Capital")
    assert (await service.set_timezone(GUILD, ADMIN, "europe/paris")).timezone == PARIS


async def test_a_member_gets_the_most_generous_of_their_roles(world: World) -> None:
    service = quotas(world)
    await service.set_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY, 300)
    await service.set_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY, 1200, role_id=71)  # supporters
    await service.set_limit(
        GUILD, ADMIN, QuotaName.MEMBER_DAY, None, role_id=72
    )  # staff: unlimited
    await service.set_limit(
        GUILD, ADMIN, QuotaName.MEMBER_DAY, 60, role_id=73
    )  # a stingy role never lowers it
    allowance = lambda *roles: service.allowance(  # noqa: E731
        GUILD, Actor(user_id=5, role_ids=frozenset(roles))
    )
    member_day = (await allowance()).member_day
    assert member_day is not None
    assert member_day.allowed == 300
    supporter = (await allowance(71, 73)).member_day
    assert supporter is not None
    assert supporter.allowed == 1200
    assert (await allowance(71, 72)).member_day is None
    assert (await allowance(73)).member_day.allowed == 300  # type: ignore[union-attr]
    await service.reset_role_tier(GUILD, ADMIN, 71)
    assert (await allowance(71)).member_day.allowed == 300  # type: ignore[union-attr]


async def test_reset_all_restores_every_default(world: World) -> None:
    service = quotas(world)
    await service.set_limit(GUILD, ADMIN, QuotaName.COOLDOWN, 60)
    await service.set_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY, 1200, role_id=71)
    await service.set_timezone(GUILD, ADMIN, "Asia/Tokyo")
    await service.set_alert_channel(GUILD, ADMIN, 444)
    settings_ = await service.reset_all(GUILD, ADMIN)
    assert (settings_.custom, dict(settings_.role_tiers), settings_.timezone.key) == (
        frozenset(),
        {},
        "UTC",
    )
    assert settings_.alert_channel_id == 444  # where alerts go is not a limit


async def reserve(world: World, actor: Actor, wanted: int = 300):
    sessions = SessionRepository(world.database)
    admission = await sessions.admit(
        NewSession(
            guild_id=GUILD,
            member_id=actor.user_id,
            avatar_label="Cooking Teacher",
            preset_id="cooking-teacher",
            dialect=Dialect.PRODUCTION,
            max_seconds=wanted,
        ),
        quotas(world).start_policy(actor, lambda seconds: max(seconds, 10)),
    )
    if admission.refusal is not None:
        raise admission.refusal
    return admission.session


async def test_a_start_is_shortened_to_what_is_left_then_refused(world: World) -> None:
    service = quotas(world)
    await service.set_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY, 420)
    sessions = SessionRepository(world.database)
    first = await reserve(world, MEMBER)
    assert first.max_seconds == 300
    await sessions.settle(first.id, used_seconds=250, end_reason=EndReason.COMPLETED, ended_at=0)
    second = await reserve(world, MEMBER)
    assert second.max_seconds == 170  # what is left today
    await sessions.settle(second.id, used_seconds=170, end_reason=EndReason.COMPLETED, ended_at=0)
    with pytest.raises(LimitReached) as refused:
        await reserve(world, MEMBER)
    assert refused.value.limit == "member_day"
    allowance = await service.allowance(GUILD, MEMBER)
    assert allowance.member_day is not None
    assert (allowance.member_day.used, allowance.member_day.left) == (420, 0)


async def test_cooldown_counts_from_the_last_end(world: World) -> None:
    service = quotas(world)
    await service.set_limit(GUILD, ADMIN, QuotaName.COOLDOWN, 3600)
    sessions = SessionRepository(world.database)
    first = await reserve(world, MEMBER, 60)
    # It ended long ago: no wait.
    await sessions.settle(first.id, used_seconds=60, end_reason=EndReason.COMPLETED, ended_at=0)
    second = await reserve(world, MEMBER, 60)
    await sessions.settle(
        second.id,
        used_seconds=60,
        end_reason=EndReason.COMPLETED,
        ended_at=int(datetime.now(UTC).timestamp()),
    )
    with pytest.raises(LimitReached) as refused:
        await reserve(world, MEMBER, 60)
    assert refused.value.limit == "cooldown"
    allowance = await service.allowance(GUILD, MEMBER)
    assert allowance.next_start_at == refused.value.frees_at


async def test_a_burst_never_overshoots_the_servers_daily_budget(world: World) -> None:
    service = quotas(world)
    await service.set_limit(GUILD, ADMIN, QuotaName.GUILD_DAY, 1000)
    await service.set_limit(GUILD, ADMIN, QuotaName.GUILD_LIVE, None)
    members = [Actor(user_id=900 + n) for n in range(40)]
    results = await asyncio.gather(
        *(reserve(world, m, 120) for m in members), return_exceptions=True
    )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, LimitReached) for r in results if isinstance(r, BaseException))
    assert sum(s.max_seconds for s in admitted) <= 1000
    assert sum(s.max_seconds for s in admitted) > 1000 - 120  # no start refused needlessly
    assert (await service.allowance(GUILD, MEMBER)).guild_day.used <= 1000  # type: ignore[union-attr]


async def test_max_avatars_reads_the_servers_limit(world: World) -> None:
    assert await quotas(world).max_avatars(GUILD) == 10
    await quotas(world).set_limit(GUILD, ADMIN, QuotaName.MAX_AVATARS, None)
    assert await quotas(world).max_avatars(GUILD) is None


def test_months_roll_over_the_year() -> None:
    december = int(datetime(2023, 12, 31, 23, 30, tzinfo=UTC).timestamp())
    month = local_time.month_period(december, UTC_ZONE)
    assert datetime.fromtimestamp(month.end, UTC).date() == date(2024, 1, 1)
    january = local_time.previous_month_period(month.end + 5, UTC_ZONE)
    assert january == month
    assert local_time.local_date(month.end - 1, UTC_ZONE) == date(2023, 12, 31)
    assert timedelta(seconds=month.end - month.start) == timedelta(days=31)


async def test_only_the_daily_member_limit_differs_by_role(world: World) -> None:
    with pytest.raises(InvalidInput, match="differ by role"):
        await quotas(world).set_limit(GUILD, ADMIN, QuotaName.GUILD_LIVE, 2, role_id=71)


async def test_only_admins_look_at_another_members_allowance(world: World) -> None:
    other = Actor(user_id=99)
    assert (await quotas(world).allowance(GUILD, MEMBER, MEMBER)).member_live == 0
    with pytest.raises(NotAllowed):
        await quotas(world).allowance(GUILD, MEMBER, other)
    assert (await quotas(world).allowance(GUILD, ADMIN, other)).member_day is not None
