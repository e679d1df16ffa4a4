"""Quota records: limits and tiers per guild, usage as admission sees it, alerts claimed once."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.storage import (
    Database,
    GuildSettingsRepository,
    NewSession,
    SessionRepository,
    UsageQuery,
    UsageSnapshot,
    local_days,
)
from bot.storage.quotas import ALERT_MEMORY_SECONDS, Budget, QuotaName, QuotaRepository
from bot.storage.transaction import WriteTx

from .conftest import T0, FakeClock
from .helpers import insert_session, new_session

# Admission counts whole local days (here UTC's): the day and month around T0.
DAY = local_days.day_period(T0, local_days.UTC_ZONE)
MONTH = local_days.month_period(T0, local_days.UTC_ZONE)


async def test_a_guild_that_changed_nothing_has_no_records(db: Database) -> None:
    stored = await QuotaRepository(db).get(1)
    assert (stored.limits, stored.role_tiers, stored.timezone, stored.alert_channel_id) == (
        {},
        {},
        "UTC",
        None,
    )


async def test_limits_keep_unset_unlimited_and_zero_apart(db: Database) -> None:
    quotas = QuotaRepository(db)
    await quotas.set_limit(1, QuotaName.MEMBER_DAY, 600, actor_id=9)
    await quotas.set_limit(1, QuotaName.GUILD_DAY, None, actor_id=9)
    await quotas.set_limit(1, QuotaName.GUILD_LIVE, 0, actor_id=9)
    await quotas.set_limit(1, QuotaName.MEMBER_DAY, 900, actor_id=9)  # replaces
    await quotas.set_limit(2, QuotaName.MEMBER_DAY, 60, actor_id=9)
    stored = await quotas.get(1)
    assert stored.limits == {
        QuotaName.MEMBER_DAY: 900,
        QuotaName.GUILD_DAY: None,
        QuotaName.GUILD_LIVE: 0,
    }
    assert await quotas.clear_limits(1, [QuotaName.GUILD_DAY, QuotaName.SESSION]) == 1
    assert QuotaName.GUILD_DAY not in (await quotas.get(1)).limits
    assert (await quotas.get(2)).limits == {QuotaName.MEMBER_DAY: 60}
    with pytest.raises(ValueError, match="0 or more"):
        await quotas.set_limit(1, QuotaName.COOLDOWN, -1, actor_id=9)


async def test_role_tiers_and_settings_come_back_together(db: Database) -> None:
    quotas = QuotaRepository(db)
    await GuildSettingsRepository(db).update(1, timezone="Europe/Paris", alert_channel_id=77)
    await quotas.set_tier(1, 500, 1200, actor_id=9)
    await quotas.set_tier(1, 501, None, actor_id=9)
    stored = await quotas.get(1)
    assert stored.role_tiers == {500: 1200, 501: None}
    assert (stored.timezone, stored.alert_channel_id) == ("Europe/Paris", 77)
    assert await quotas.clear_tier(1, 500)
    assert not await quotas.clear_tier(1, 500)
    await quotas.set_limit(1, QuotaName.COOLDOWN, 60, actor_id=9)
    assert await quotas.clear_all(1) == 2
    stored = await quotas.get(1)
    assert (stored.limits, stored.role_tiers) == ({}, {})


async def test_an_alert_is_claimed_once_even_when_settles_race(db: Database) -> None:
    quotas = QuotaRepository(db)
    claims = await asyncio.gather(
        *(quotas.claim_alerts(1, Budget.DAY, DAY.start, [50, 80]) for _ in range(10))
    )
    assert sorted(claims, key=len)[-1] == [50, 80]
    assert sum(len(claimed) for claimed in claims) == 2
    assert await quotas.claim_alerts(1, Budget.DAY, DAY.start, [50, 80, 100]) == [100]
    # Another period, budget or guild is a fresh start.
    assert await quotas.claim_alerts(1, Budget.DAY, DAY.end, [50]) == [50]
    assert await quotas.claim_alerts(1, Budget.MONTH, DAY.start, [50]) == [50]
    assert await quotas.claim_alerts(2, Budget.DAY, DAY.start, [50]) == [50]


async def test_old_alerts_are_forgotten(db: Database, clock: FakeClock) -> None:
    quotas = QuotaRepository(db, clock)
    await quotas.claim_alerts(1, Budget.DAY, DAY.start, [50])
    clock.now += ALERT_MEMORY_SECONDS + 1
    await quotas.claim_alerts(1, Budget.DAY, DAY.end, [50])
    row = await db.fetch_one("SELECT count(*) FROM quota_alerts_sent")
    assert row is not None
    assert row[0] == 1


@dataclass
class Recorder:
    """A policy that admits everything and keeps what the transaction read."""

    query: UsageQuery
    seen: list[UsageSnapshot] = field(default_factory=list)

    def usage_query(self, now: int) -> UsageQuery:
        return self.query

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None:
        self.seen.append(usage)


_guild_ids = itertools.count(5000)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(1, 3),  # member
            st.sampled_from([-11 * 86_400, -86_400, -1, 0, 1, 86_399, 86_400, 20 * 86_400]),
            st.sampled_from(["RESERVED", "OPEN", "SETTLED", "RELEASED"]),
            st.integers(1, 600),  # max seconds
            st.integers(0, 700),  # used seconds, when settled
            st.integers(0, 10_000),  # how long after it started it ended
        ),
        max_size=12,
    )
)
async def test_start_facts_read_what_admission_reads(
    db: Database, rows: list[tuple[int, int, str, int, int, int]]
) -> None:
    """The allowance a member is shown is the very arithmetic their next start is held to."""
    guild = next(_guild_ids)

    def insert(tx: WriteTx) -> None:
        for n, (member, offset, state, max_seconds, used, length) in enumerate(rows):
            insert_session(
                tx,
                guild_id=guild,
                member_id=member,
                state=state,
                max_seconds=max_seconds,
                used_seconds=used,
                runway_id=None if state == "RESERVED" else f"{guild}-{n}",
                created_at=DAY.start + offset,
                ended_at=DAY.start + offset + length,
            )

    await db.write(insert)
    _, shown = await QuotaRepository(db).start_facts(guild, 1, lambda _: (DAY, MONTH))
    recorder = Recorder(UsageQuery(periods=(DAY, MONTH), member_last_end=True))
    await SessionRepository(db, FakeClock(T0)).reserve(
        new_session(guild_id=guild, member_id=1), recorder
    )
    assert shown == recorder.seen[0]
