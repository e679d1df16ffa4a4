"""What the stress and crash tests share: servers with every limit set low, a start exactly as
the session service makes one (plan, reserve, create at Runway, open), and the audit of the
books: no limit ever exceeded, nothing dangling, reports equal to the settled sessions.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.runway.client import RunwayClient
from bot.runway.models import PresetAvatar, SessionSpec
from bot.services import local_time
from bot.services.actors import Actor
from bot.services.quotas import QuotaService
from bot.storage import EndReason, NewSession, Session, SessionRepository
from bot.storage.quotas import QuotaName
from tests.support.books import read_rows

TIMEZONES = ("UTC", "Europe/Paris", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe")
ADMIN = 1
TIER_ROLE = 77


@dataclass(frozen=True)
class Rules:
    """The limits every server of a test gets; members holding TIER_ROLE get `tier_seconds`
    a day instead of the per-member daily limit."""

    limits: Mapping[QuotaName, int]
    tier_seconds: int

    def __getitem__(self, name: QuotaName) -> int:
        return self.limits[name]


# Every limit low, so that a burst hits all of them.
LOW = Rules(
    limits={
        QuotaName.GUILD_LIVE: 3,
        QuotaName.MEMBER_LIVE: 1,
        QuotaName.GUILD_DAY: 900,
        QuotaName.GUILD_MONTH: 1200,
        QuotaName.MEMBER_DAY: 240,
        QuotaName.COOLDOWN: 60,
        QuotaName.SESSION: 180,
    },
    tier_seconds=420,
)


@dataclass(frozen=True)
class Server:
    guild_id: int
    timezone: str
    members: tuple[int, ...]
    tiered: frozenset[int]  # the members who hold TIER_ROLE

    def actor(self, member_id: int) -> Actor:
        roles = frozenset({TIER_ROLE}) if member_id in self.tiered else frozenset()
        return Actor(user_id=member_id, role_ids=roles)


def servers(count: int, members: int, *, first_guild: int = 10_000) -> list[Server]:
    made = []
    for index in range(count):
        guild = first_guild + index
        ids = tuple(guild * 100 + n for n in range(1, members + 1))
        made.append(Server(guild, TIMEZONES[index % len(TIMEZONES)], ids, frozenset(ids[::2])))
    return made


async def configure(quotas: QuotaService, server: Server, rules: Rules) -> None:
    admin = Actor(user_id=ADMIN, manages_guild=True)
    for name, value in rules.limits.items():
        await quotas.set_limit(server.guild_id, admin, name, value)
    await quotas.set_limit(
        server.guild_id, admin, QuotaName.MEMBER_DAY, rules.tier_seconds, role_id=TIER_ROLE
    )
    await quotas.set_timezone(server.guild_id, admin, server.timezone)


async def start(
    quotas: QuotaService,
    sessions: SessionRepository,
    runway: RunwayClient,
    server: Server,
    member_id: int,
    wanted: int,
    expires_at: int,
    passed: Callable[[str], None] = lambda step: None,
) -> Session | None:
    """One start as `SessionService.start` makes it; raises `LimitReached` when refused.
    `passed` hears of each step ("reserved", "created") as it is done."""
    admission = await sessions.admit(
        NewSession(
            guild_id=server.guild_id,
            member_id=member_id,
            avatar_label="Cooking Teacher",
            dialect=runway.rules.dialect,
            max_seconds=wanted,
            preset_id="cooking-teacher",
        ),
        quotas.start_policy(server.actor(member_id), runway.rules.clamp_session_seconds),
    )
    if admission.refusal is not None:
        raise admission.refusal
    session = admission.session
    assert session is not None
    max_seconds = session.max_seconds
    passed("reserved")
    try:
        created = await runway.create_session(
            SessionSpec(avatar=PresetAvatar(preset_id="cooking-teacher"), max_seconds=max_seconds)
        )
    except BaseException:
        await sessions.release(session.id, EndReason.START_FAILED)
        raise
    passed("created")
    return await sessions.mark_open(
        session.id,
        runway_id=created.id,
        join_code_hash=os.urandom(32),
        code_expires_at=expires_at,
    )


@dataclass
class Audit:
    sessions: int = 0
    settled: int = 0
    released: int = 0
    live: int = 0
    settled_seconds: int = 0
    peak_day_share: float = 0.0  # the fullest guild day, as a share of its budget


def audit(database: str | Path, plan: Iterable[Server], rules: Rules) -> Audit:
    """Check every limit against the sessions table itself (plain sqlite3 or psycopg, outside
    the bot's code, so it also works on a file a killed process left behind). Raises
    AssertionError on overshoot."""
    by_guild = {server.guild_id: server for server in plan}
    rows = read_rows(database, "SELECT * FROM sessions ORDER BY id")
    result = Audit(sessions=len(rows))
    guild_days: dict[tuple[int, int], int] = defaultdict(int)
    guild_months: dict[tuple[int, int], int] = defaultdict(int)
    member_days: dict[tuple[int, int, int], int] = defaultdict(int)
    live_guild: dict[int, int] = defaultdict(int)
    live_member: dict[tuple[int, int], int] = defaultdict(int)
    by_member: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        server = by_guild[row["guild_id"]]
        tz = local_time.zone(server.timezone)
        state = row["state"]
        charge = {"SETTLED": row["used_seconds"], "RELEASED": 0}.get(state, row["max_seconds"])
        assert row["max_seconds"] <= rules[QuotaName.SESSION], dict(row)
        if state == "SETTLED":
            assert 0 <= row["used_seconds"] <= row["max_seconds"], dict(row)
            result.settled += 1
            result.settled_seconds += row["used_seconds"]
        elif state == "RELEASED":
            result.released += 1
        else:
            result.live += 1
            live_guild[row["guild_id"]] += 1
            live_member[row["guild_id"], row["member_id"]] += 1
        day = local_time.day_period(row["created_at"], tz).start
        month = local_time.month_period(row["created_at"], tz).start
        guild_days[row["guild_id"], day] += charge
        guild_months[row["guild_id"], month] += charge
        member_days[row["guild_id"], row["member_id"], day] += charge
        by_member[row["guild_id"], row["member_id"]].append(row)
    for (guild, _), used in guild_days.items():
        assert used <= rules[QuotaName.GUILD_DAY], f"guild {guild} overshot its day: {used}"
        result.peak_day_share = max(result.peak_day_share, used / rules[QuotaName.GUILD_DAY])
    for (guild, _), used in guild_months.items():
        assert used <= rules[QuotaName.GUILD_MONTH], f"guild {guild} overshot its month: {used}"
    for (guild, member, _), used in member_days.items():
        tiered = member in by_guild[guild].tiered
        allowed = rules.tier_seconds if tiered else rules[QuotaName.MEMBER_DAY]
        assert used <= allowed, f"member {member} of {guild} overshot the day: {used}"
    assert all(count <= rules[QuotaName.GUILD_LIVE] for count in live_guild.values())
    assert all(count <= rules[QuotaName.MEMBER_LIVE] for count in live_member.values())
    for (guild, member), history in by_member.items():
        _check_cooldown(guild, member, history, rules[QuotaName.COOLDOWN])
    return result


def _check_cooldown(guild: int, member: int, history: list[dict[str, Any]], cooldown: int) -> None:
    settled = [row for row in history if row["state"] == "SETTLED"]
    for row in history:
        before = sorted(
            other["ended_at"]
            for other in settled
            if other["id"] != row["id"] and other["ended_at"] <= row["created_at"]
        )
        if before:
            waited = row["created_at"] - before[-1]
            assert waited >= cooldown, (
                f"member {member} of {guild} started {waited} s after a call ended"
            )


def pick_used(session: Session, rng: random.Random) -> int:
    """What a finished call cost: anything from nothing to its whole reservation."""
    return rng.choice([0, session.max_seconds, rng.randint(0, session.max_seconds)])
