"""Privacy below Discord: a member forgets themselves, admins choose retention, and the
scheduled job deletes old sessions in batches while every report keeps its totals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.errors import InvalidInput, NotAllowed
from bot.services import local_time
from bot.services.maintenance import Maintenance
from bot.services.privacy import Kept, retention_cutoff
from bot.storage import (
    AuditEvent,
    AuditRepository,
    EndReason,
    LimitReached,
    LiveLimits,
    Period,
    SessionRepository,
    UsageRepository,
    UsageTotals,
)
from bot.storage.common import FORGOTTEN_MEMBER
from bot.storage.quotas import QuotaName
from bot.storage.transaction import WriteTx
from tests.services.conftest import ADMIN, GUILD, MEMBER, OTHER_GUILD, World
from tests.storage.conftest import FakeClock
from tests.storage.helpers import insert_session, new_session

EVERYTHING = Period(0, 2**40)


def utc(year: int, month: int, day: int, hour: int) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


async def test_a_member_forgets_themselves_and_the_server_keeps_its_minutes(world: World) -> None:
    sessions = SessionRepository(world.database)
    for used in (100, 20):
        session = await sessions.reserve(
            new_session(guild_id=GUILD, member_id=MEMBER.user_id), LiveLimits()
        )
        await sessions.settle(
            session.id, used_seconds=used, end_reason=EndReason.COMPLETED, ended_at=0
        )
    usage = UsageRepository(world.database)
    forgotten = await world.services.privacy.forget(GUILD, MEMBER)
    assert forgotten.erased["calls"] == 2
    assert forgotten.total >= 2
    assert (await usage.totals(GUILD, EVERYTHING)).settled_seconds == 120
    mine = await usage.totals(GUILD, EVERYTHING, member_id=MEMBER.user_id)
    assert mine.settled_sessions == 0
    anonymous = await usage.totals(GUILD, EVERYTHING, member_id=FORGOTTEN_MEMBER)
    assert anonymous.settled_seconds == 120
    assert (await world.services.privacy.forget(GUILD, MEMBER)).total == 0  # nothing left


async def test_forgetting_oneself_is_no_way_round_the_daily_allowance_or_the_wait(
    world: World,
) -> None:
    quotas = world.services.quotas
    await quotas.set_limit(GUILD, ADMIN, QuotaName.MEMBER_DAY, 420)
    await quotas.set_limit(GUILD, ADMIN, QuotaName.COOLDOWN, 3600)
    sessions = SessionRepository(world.database)
    first = await sessions.admit(
        new_session(guild_id=GUILD, member_id=MEMBER.user_id, max_seconds=400),
        quotas.start_policy(MEMBER, lambda seconds: seconds),
    )
    call = first.session
    assert call is not None
    ended = int(datetime.now(UTC).timestamp())
    await sessions.settle(call.id, used_seconds=400, end_reason=EndReason.COMPLETED, ended_at=ended)

    forgotten = await world.services.privacy.forget(GUILD, MEMBER)
    assert forgotten.erased["calls"] == 1
    tomorrow = local_time.calendar(ended, local_time.UTC_ZONE)[0].end
    assert forgotten.kept == Kept(
        call_seconds=400,
        video_seconds=0,
        next_call_at=ended + 3600,
        next_video_at=None,
        until=max(tomorrow, ended + 3600),
    )
    allowance = await quotas.allowance(GUILD, MEMBER)
    assert allowance.member_day is not None
    assert allowance.member_day.used == 400
    assert allowance.next_start_at == ended + 3600
    again = await sessions.admit(
        new_session(guild_id=GUILD, member_id=MEMBER.user_id, max_seconds=300),
        quotas.start_policy(MEMBER, lambda seconds: seconds),
    )
    assert again.session is None
    assert isinstance(again.refusal, LimitReached)
    assert again.refusal.limit == "cooldown"
    # The server's totals counted the call once, under the forgotten member.
    assert (await UsageRepository(world.database).totals(GUILD, EVERYTHING)).settled_seconds == 400


async def test_forgetting_waits_for_a_live_call_to_end(world: World) -> None:
    await SessionRepository(world.database).reserve(
        new_session(guild_id=GUILD, member_id=MEMBER.user_id), LiveLimits()
    )
    with pytest.raises(InvalidInput, match="live call"):
        await world.services.privacy.forget(GUILD, MEMBER)


async def test_only_admins_choose_retention_within_bounds(world: World) -> None:
    privacy = world.services.privacy
    assert await privacy.retention_months(GUILD) is None
    with pytest.raises(NotAllowed):
        await privacy.set_retention(GUILD, MEMBER, 3)
    with pytest.raises(InvalidInput):
        await privacy.set_retention(GUILD, ADMIN, 121)
    assert await privacy.set_retention(GUILD, ADMIN, 3) == 3
    assert await privacy.retention_months(GUILD) == 3
    assert await privacy.set_retention(GUILD, ADMIN, None) is None


def test_the_cutoff_is_a_local_month_start_and_never_inside_a_cooldown() -> None:
    paris = local_time.zone("Europe/Paris")
    mid_may = utc(2024, 5, 15, 12)
    # Three months back from May: sessions before 1 February (local midnight) go.
    assert retention_cutoff(mid_may, 3, paris) == utc(2024, 1, 31, 23)
    # One month back on 1 March would leave a 31-day cooldown without its last call: January.
    assert retention_cutoff(utc(2024, 3, 1, 1), 1, paris) == utc(2023, 12, 31, 23)
    assert retention_cutoff(mid_may, 1, paris) == utc(2024, 3, 31, 22)  # April, after DST


async def test_retention_deletes_old_sessions_in_batches_and_reports_keep_their_totals(
    world: World,
) -> None:
    now = int(datetime.now(UTC).timestamp())
    old = now - 200 * 86_400

    def history(tx: WriteTx) -> None:
        for n in range(23):
            insert_session(
                tx,
                guild_id=GUILD,
                member_id=MEMBER.user_id,
                state="SETTLED",
                created_at=old + n * 60,
                used_seconds=10,
                ended_at=old + n * 60 + 10,
                runway_id=f"old-{n}",
            )
        insert_session(
            tx,
            guild_id=GUILD,
            member_id=MEMBER.user_id,
            state="SETTLED",
            created_at=now - 60,
            used_seconds=5,
            ended_at=now,
            runway_id="recent",
        )

    await world.database.write(history)
    usage = UsageRepository(world.database)
    before = await usage.totals(GUILD, EVERYTHING)
    await world.services.privacy.set_retention(GUILD, ADMIN, 2)
    assert await world.services.privacy.apply_retention(batch=5) == 23
    assert await world.services.privacy.apply_retention(batch=5) == 0
    assert await usage.totals(GUILD, EVERYTHING) == before == UsageTotals(24, 235, 0, 0)
    kept = await SessionRepository(world.database).in_period(GUILD, EVERYTHING)
    assert [session.runway_id for session in kept] == ["recent"]


async def test_retention_bounds_the_audit_log_too(world: World) -> None:
    now = int(datetime.now(UTC).timestamp())
    for guild, at in ((GUILD, now - 200 * 86_400), (GUILD, now - 60), (OTHER_GUILD, 0)):
        for n in range(7):
            await AuditRepository(world.database, FakeClock(at)).record(
                guild, AuditEvent(ADMIN.user_id, "avatar.edit", f"Ada {n}")
            )
    await world.services.privacy.set_retention(GUILD, ADMIN, 2)
    assert await world.services.privacy.apply_retention(batch=3) == 7  # in batches of 3
    kept = await AuditRepository(world.database).history(GUILD, limit=100)
    assert len(kept) == 7
    assert all(entry.created_at == now - 60 for entry in kept)
    # A server that keeps everything (the default) keeps its whole history.
    assert len(await AuditRepository(world.database).history(OTHER_GUILD, limit=100)) == 7


async def test_maintenance_runs_retention_and_refreshes_statistics(world: World) -> None:
    refreshed: list[bool] = []

    async def optimize() -> None:
        refreshed.append(True)

    maintenance = Maintenance(privacy=world.services.privacy, optimize=optimize, first_run=0)
    maintenance.start()
    try:
        for _ in range(500):
            if refreshed:
                break
            await asyncio.sleep(0.01)
    finally:
        await maintenance.stop()
    assert refreshed == [True]
