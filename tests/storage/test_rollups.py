"""Rollups: kept equal to the sessions as calls end, moved when a timezone changes, filled by the
migration for an existing database, and protected from changes behind their back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.storage import (
    Database,
    EndReason,
    GuildSettingsRepository,
    LiveLimits,
    NewSession,
    Period,
    SessionRepository,
    UsageQuery,
    UsageRepository,
    UsageSnapshot,
)
from bot.storage.errors import ConstraintError
from bot.storage.local_days import day_period, month_period, zone_or_utc
from bot.storage.migrations import bundled
from bot.storage.rollups import differences
from bot.storage.sql import Engine
from bot.storage.transaction import WriteTx

from .conftest import FakeClock
from .helpers import insert_session, new_session

HOUR = 3_600
# 2024-03-10 22:30 UTC: 04:00 the next day in Kolkata, 18:30 the same day in New York.
LATE = 1_710_109_800
YEAR = Period(LATE - 400 * 86_400, LATE + 400 * 86_400)


@dataclass
class Recorder:
    """A policy that admits everything and keeps the member's charge of one period."""

    period: Period
    seen: list[int] = field(default_factory=list)

    def usage_query(self, now: int) -> UsageQuery:
        return UsageQuery(periods=(self.period,))

    def admit(self, request: NewSession, usage: UsageSnapshot, now: int) -> None:
        self.seen.append(usage.periods[self.period].member_seconds)


async def settle_at(
    sessions: SessionRepository, clock: FakeClock, when: int, member: int, used: int
) -> None:
    clock.now = when
    session = await sessions.reserve(new_session(member_id=member), LiveLimits())
    await sessions.settle(
        session.id, used_seconds=used, end_reason=EndReason.COMPLETED, ended_at=when + used
    )


async def days_of(usage: UsageRepository, tz: str) -> dict[int, int]:
    """Seconds per local day of guild 1 over three days around LATE, in `tz`."""
    zone = zone_or_utc(tz)
    first = day_period(LATE - 86_400, zone)
    edges = [first.start]
    while len(edges) < 4:
        edges.append(day_period(edges[-1], zone).end)
    days = await usage.summary(1, Period(edges[0], edges[-1]), edges)
    return {bucket.period.start: bucket.seconds for bucket in days.buckets}


async def test_every_ended_session_is_rolled_up_as_it_ends(db: Database, clock: FakeClock) -> None:
    sessions = SessionRepository(db, clock)
    await GuildSettingsRepository(db, clock).update(2, timezone="Australia/Lord_Howe")
    for n in range(12):
        clock.now = LATE + n * 5 * HOUR
        session = await sessions.reserve(
            new_session(guild_id=1 + n % 2, member_id=n % 3, avatar_label=f"A{n % 4}"),
            LiveLimits(),
        )
        if n % 3 == 0:
            await sessions.release(session.id, EndReason.START_FAILED)
        else:
            await sessions.settle(
                session.id, used_seconds=n * 10, end_reason=EndReason.MEMBER_ENDED, ended_at=0
            )
    assert await db.read(differences) == {}
    rows = await db.fetch_all("SELECT count(*) FROM rollup_member_days")
    assert rows[0][0] > 0


async def test_a_timezone_change_moves_the_retained_days(db: Database, clock: FakeClock) -> None:
    sessions = SessionRepository(db, clock)
    guilds = GuildSettingsRepository(db, clock)
    usage = UsageRepository(db)
    await settle_at(sessions, clock, LATE, member=1, used=100)  # 22:30 UTC
    await settle_at(sessions, clock, LATE - 12 * HOUR, member=2, used=40)  # 10:30 UTC
    utc_days = await days_of(usage, "UTC")
    assert sorted(utc_days.values()) == [0, 0, 140]  # both on the same UTC day

    await guilds.update(1, timezone="Asia/Kolkata")
    kolkata_days = await days_of(usage, "Asia/Kolkata")
    assert sorted(kolkata_days.values()) == [0, 40, 100]  # 04:00 the next day in Kolkata
    assert await db.read(differences) == {}
    assert (await usage.totals(1, YEAR)).settled_seconds == 140

    # The member's day, as admission reads it, moved too.
    clock.now = LATE
    recorder = Recorder(day_period(LATE, zone_or_utc("Asia/Kolkata")))
    await sessions.reserve(new_session(member_id=1), recorder)
    assert recorder.seen == [100]

    await guilds.update(1, timezone="America/New_York")
    assert sorted((await days_of(usage, "America/New_York")).values()) == [0, 0, 140]
    await guilds.update(1, timezone="America/New_York")  # no change: nothing moves
    assert await db.read(differences) == {}


async def test_days_whose_sessions_are_gone_keep_their_figures(
    db: Database, clock: FakeClock
) -> None:
    sessions = SessionRepository(db, clock)
    usage = UsageRepository(db)
    await settle_at(sessions, clock, LATE - 60 * 86_400, member=1, used=70)
    await settle_at(sessions, clock, LATE, member=1, used=30)
    await db.write(
        lambda tx: tx.execute("DELETE FROM sessions WHERE created_at < ?", (LATE - 86_400,))
    )  # as retention does
    await GuildSettingsRepository(db, clock).update(1, timezone="Asia/Kolkata")
    assert (await usage.totals(1, YEAR)).settled_seconds == 100
    old_month = month_period(LATE - 60 * 86_400, zone_or_utc("Asia/Kolkata"))
    assert (await usage.totals(1, old_month)).settled_seconds == 70
    assert (await usage.totals(1, YEAR, member_id=1)).settled_seconds == 100


async def test_an_ended_session_is_final_and_sessions_start_live(db: Database) -> None:
    sessions = SessionRepository(db)
    session = await sessions.reserve(new_session(), LiveLimits())
    await sessions.settle(session.id, used_seconds=5, end_reason=EndReason.COMPLETED, ended_at=1)
    changed = {"id": session.id}
    with pytest.raises(ConstraintError, match="final"):
        await db.write(
            lambda tx: tx.execute("UPDATE sessions SET used_seconds = 9 WHERE id = :id", changed)
        )

    def insert_ended(tx: WriteTx) -> None:
        tx.execute(
            "INSERT INTO sessions (guild_id, member_id, avatar_label, dialect, state,"
            " max_seconds, used_seconds, end_reason, created_at, ended_at)"
            " VALUES (1, 1, 'x', 'seed', 'SETTLED', 60, 5, 'completed', 0, 5)"
        )

    with pytest.raises(ConstraintError, match="inserted live"):
        await db.write(insert_ended)
    assert await db.read(differences) == {}


async def test_the_migration_fills_the_rollups_of_an_existing_database(
    tmp_path: Path, empty_target: str | Path, engine: str
) -> None:
    """A database of schema 2, with history, gains rollups equal to its sessions."""
    older = tmp_path / "schema2"
    older.mkdir()
    for entry in bundled(Engine(engine)).iterdir():
        if entry.name.endswith(".sql") and entry.name < "0003":
            (older / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
    async with Database.open(empty_target, migrations_dir=older) as db:

        def history(tx: WriteTx) -> None:
            tx.execute(
                "INSERT INTO guild_settings (guild_id, timezone, updated_at)"
                " VALUES (1, 'Europe/Paris', 0)"
            )
            for n in range(40):
                insert_session(
                    tx,
                    guild_id=1 + n % 2,
                    member_id=n % 5,
                    state=("SETTLED", "RELEASED", "OPEN")[n % 3],
                    created_at=LATE + n * 7 * HOUR,
                    used_seconds=n,
                    ended_at=LATE + n * 7 * HOUR + 60,
                    runway_id=f"rw-{n}",
                )

        await db.write(history)
    async with Database.open(empty_target) as db:
        assert await db.read(differences) == {}
        counted = await db.fetch_one("SELECT sum(sessions), sum(seconds) FROM rollup_end_days")
        assert counted is not None
        assert tuple(counted) == (27, sum(n for n in range(40) if n % 3 == 0))
        stats = await db.fetch_one(
            "SELECT count(*) FROM sqlite_stat1"
            if engine == "sqlite"
            else "SELECT count(*) FROM pg_stats WHERE tablename = 'rollup_end_days'"
        )
        assert stats is not None
        assert stats[0] > 0  # the migration was followed by ANALYZE


async def test_a_timezone_change_leaves_older_months_as_they_were_counted(
    db: Database, clock: FakeClock
) -> None:
    """Only this and last month move (see bot.storage.rollups): an older call keeps its UTC
    day, whose midnight lies in one Kolkata day, and every total stays."""
    sessions = SessionRepository(db, clock)
    usage = UsageRepository(db)
    old = LATE - 90 * 86_400  # 22:30 UTC in December: the next day in Kolkata
    await settle_at(sessions, clock, old, member=1, used=60)
    await settle_at(sessions, clock, LATE, member=1, used=30)
    await GuildSettingsRepository(db, clock).update(1, timezone="Asia/Kolkata")
    rows = await db.fetch_all("SELECT day_start, seconds FROM rollup_guild_days ORDER BY day_start")
    kolkata = zone_or_utc("Asia/Kolkata")
    assert [tuple(row) for row in rows] == [
        (old - old % 86_400, 60),  # still the UTC midnight it was counted under
        (day_period(LATE, kolkata).start, 30),  # moved to its Kolkata day
    ]
    assert (await usage.totals(1, YEAR)).settled_seconds == 90
    assert (await usage.totals(1, YEAR, member_id=1)).settled_seconds == 90
