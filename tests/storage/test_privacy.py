"""Forgetting a member: every record naming them is covered, their usage stays in the server's
totals without them, a live call blocks it, other members and servers are untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import (
    AuditEvent,
    AuditRepository,
    AvatarRepository,
    Database,
    DocumentRepository,
    EndReason,
    LiveLimits,
    Period,
    SessionRepository,
    UsageRepository,
)
from bot.storage.common import FORGOTTEN_MEMBER
from bot.storage.errors import InUseError
from bot.storage.privacy import PrivacyRepository, load_all
from bot.storage.quotas import QuotaName, QuotaRepository
from tests.support.schema import describe, member_columns

from .conftest import T0, FakeClock
from .helpers import new_avatar, new_document, new_session

# Column names that hold a member's (or an admin's) Discord id.
NAMES_A_MEMBER = ("member_id", "user_id", "actor_id")
EVERYTHING = Period(0, 2**40)
MEMBER, OTHER = 501, 502


async def test_every_column_naming_a_member_has_an_eraser(
    db: Database, database_target: str | Path
) -> None:
    declared = {column for data in load_all().values() for column in data.columns}
    found = member_columns(describe(database_target), NAMES_A_MEMBER)
    assert found <= declared, "register the new table in bot.storage.privacy"


async def history(db: Database, clock: FakeClock) -> SessionRepository:
    """Guild 1: MEMBER and OTHER each had calls and made things; guild 2: MEMBER had a call."""
    sessions = SessionRepository(db, clock)
    for guild, member, used in ((1, MEMBER, 100), (1, MEMBER, 50), (1, OTHER, 30), (2, MEMBER, 7)):
        clock.now += 3600
        session = await sessions.reserve(
            new_session(guild_id=guild, member_id=member), LiveLimits()
        )
        await sessions.settle(
            session.id, used_seconds=used, end_reason=EndReason.COMPLETED, ended_at=0
        )
    released = await sessions.reserve(new_session(member_id=MEMBER), LiveLimits())
    await sessions.release(released.id, EndReason.START_FAILED)
    avatar = await AvatarRepository(db, clock).add(
        new_avatar(created_by=MEMBER), audit=AuditEvent(MEMBER, "avatar.create", "Ada")
    )
    await DocumentRepository(db, clock).add(new_document(avatar.id, "doc-1", added_by=MEMBER))
    await AuditRepository(db, clock).record(1, AuditEvent(OTHER, "avatar.edit", "Ada"))
    await QuotaRepository(db, clock).set_limit(1, QuotaName.GUILD_DAY, 600, actor_id=MEMBER)
    return sessions


async def test_a_member_is_forgotten_and_the_servers_totals_stay(
    db: Database, clock: FakeClock
) -> None:
    sessions = await history(db, clock)
    usage = UsageRepository(db)
    before = await usage.totals(1, EVERYTHING)
    week = Period(T0 - 86_400, T0 + 86_400 * 3)
    ranking_before = (await usage.summary(1, week, [])).top_members

    erased = await PrivacyRepository(db).forget(1, MEMBER)

    assert erased["calls"] == 3  # two settled and one released, in guild 1 only
    assert erased["avatars created"] == 1
    assert erased["knowledge documents added"] == 1
    assert erased["history entries"] == 1
    assert erased["limit changes"] == 1
    assert await usage.totals(1, EVERYTHING) == before
    assert (await usage.totals(1, EVERYTHING, member_id=MEMBER)).settled_seconds == 0
    assert (await usage.totals(1, EVERYTHING, member_id=FORGOTTEN_MEMBER)).settled_seconds == 150
    ranking = (await usage.summary(1, week, [])).top_members
    assert {m.member_id for m in ranking} == {FORGOTTEN_MEMBER, OTHER}
    assert sum(m.seconds for m in ranking) == sum(m.seconds for m in ranking_before)
    # Nothing in guild 1 names the member any more; guild 2 and the other member are untouched.
    for column in ("sessions.member_id", "rollup_member_days.member_id"):
        table, name = column.split(".")
        rows = await db.fetch_all(f"SELECT guild_id FROM {table} WHERE {name} = ?", (MEMBER,))
        assert {row[0] for row in rows} == {2}, column
    avatars = await db.fetch_all("SELECT created_by FROM avatars")
    assert [row[0] for row in avatars] == [FORGOTTEN_MEMBER]
    actors = await db.fetch_all("SELECT actor_id FROM audit_log ORDER BY id")
    assert [row[0] for row in actors] == [FORGOTTEN_MEMBER, OTHER]
    assert (await usage.totals(2, EVERYTHING, member_id=MEMBER)).settled_seconds == 7
    assert len(await sessions.in_period(1, EVERYTHING, member_id=OTHER)) == 1


async def test_a_live_call_blocks_forgetting_and_nothing_is_erased(
    db: Database, clock: FakeClock
) -> None:
    sessions = await history(db, clock)
    await sessions.reserve(new_session(member_id=MEMBER), LiveLimits())
    with pytest.raises(InUseError):
        await PrivacyRepository(db).forget(1, MEMBER)
    rows = await db.fetch_one("SELECT count(*) FROM sessions WHERE member_id = ?", (MEMBER,))
    assert rows is not None
    assert rows[0] == 5
    owner = await db.fetch_one("SELECT created_by FROM avatars")
    assert owner is not None
    assert owner[0] == MEMBER
