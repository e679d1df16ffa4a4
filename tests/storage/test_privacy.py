"""Forgetting a member: every record naming them is covered, their usage stays in the server's
totals without them, a live call blocks it, other members and servers are untouched; what the
limits need is kept until they reset, and then nothing of the member remains."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services import local_time
from bot.services.quotas import QuotaPolicy, default_limits
from bot.storage import (
    AuditEvent,
    AuditRepository,
    AvatarRepository,
    Database,
    DocumentRepository,
    EndReason,
    LimitReached,
    LiveLimits,
    Period,
    SessionRepository,
    UsageRepository,
)
from bot.storage.common import FORGOTTEN_MEMBER
from bot.storage.errors import InUseError
from bot.storage.held_usage import HeldUsage, HeldUsageRepository, HoldRules
from bot.storage.intents import IntentRepository, IntentState, NewIntent, ProcessRepository
from bot.storage.privacy import KEPT_AFTER_FORGETTING, PrivacyRepository, load_all
from bot.storage.quotas import QuotaName, QuotaRepository
from bot.storage.video_charges import VideoFacts
from bot.storage.videos import NewVideo, VideoEnd, VideoRepository
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
    assert found <= declared | set(KEPT_AFTER_FORGETTING), "register it in bot.storage.privacy"


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


DAY_0 = Period(T0 - T0 % 86_400, T0 - T0 % 86_400 + 86_400)  # a UTC day; T0 is at 22:13
WAIT = 3 * 3600
RULES = HoldRules(DAY_0, call_cooldown=WAIT, video_cooldown=600)


def limits(*, day: int | None = None, wait: int = 0) -> QuotaPolicy:
    """The quota policy a start is held to: the member's daily allowance and the wait."""
    chosen = default_limits(max_live_per_guild=5, session_max_seconds=3600)
    chosen |= {QuotaName.MEMBER_DAY: day, QuotaName.COOLDOWN: wait, QuotaName.GUILD_DAY: None}
    return QuotaPolicy(limits=chosen, member_day=day, timezone=local_time.UTC_ZONE)


async def member_rows(db: Database, target: str | Path, member: int) -> dict[str, int]:
    """Every record, in any table, with a column naming `member`."""
    found = {}
    for column in sorted(member_columns(describe(target), NAMES_A_MEMBER)):
        table, name = column.split(".")
        row = await db.fetch_one(f"SELECT count(*) FROM {table} WHERE {name} = ?", (member,))
        assert row is not None
        if row[0]:
            found[column] = row[0]
    return found


async def test_forgetting_oneself_resets_no_limit_and_nothing_remains_once_they_reset(
    db: Database, database_target: str | Path, clock: FakeClock
) -> None:
    clock.now = T0 - 3600
    sessions = SessionRepository(db, clock)
    call = await sessions.reserve(new_session(member_id=MEMBER, max_seconds=500), limits(day=600))
    await sessions.settle(
        call.id, used_seconds=450, end_reason=EndReason.COMPLETED, ended_at=clock.now
    )
    last_end = clock.now
    videos = VideoRepository(db, clock)
    owner = await ProcessRepository(db).register()
    asked = NewIntent(
        kind="video", guild_id=1, member_id=MEMBER, name="x", fingerprint=b"f", decide_after=0
    )
    video = await videos.request(new_video(MEMBER), _NoVideoLimit(), owner=owner, intent=asked)
    await videos.mark_rendering(video.id, "task-1")
    intents = IntentRepository(db)
    await intents.resolve(
        await intents.for_record("video", video.id), IntentState.ADOPTED, "created"
    )
    await videos.settle(video.id, used_seconds=4, cost_credits=2, end=VideoEnd.LINKED)
    clock.now += 60

    erased = await PrivacyRepository(db, clock).forget(1, MEMBER, RULES)
    assert erased["calls"] == 1
    assert erased["avatar videos"] == 1
    held = HeldUsage(DAY_0.start, 450, 4, last_end, T0 - 3600, last_end + WAIT)
    assert await HeldUsageRepository(db, clock).get(1, MEMBER) == held
    # Only the counters stay: no call, no video, no rollup row names the member.
    assert await member_rows(db, database_target, MEMBER) == {"held_usage.member_id": 1}

    # Starting again at once: the day's 450 s and the wait after the last call still count.
    with pytest.raises(LimitReached) as day_refusal:
        await sessions.reserve(new_session(member_id=MEMBER, max_seconds=300), limits(day=600))
    assert day_refusal.value.limit == "member_day"
    with pytest.raises(LimitReached) as wait_refusal:
        await sessions.reserve(new_session(member_id=MEMBER, max_seconds=60), limits(wait=WAIT))
    assert (wait_refusal.value.limit, wait_refusal.value.frees_at) == (
        "cooldown",
        last_end + WAIT,
    )
    facts = await videos.facts(1, MEMBER, DAY_0)
    assert (facts.member_day_seconds, facts.member_last_at) == (4, T0 - 3600)
    # Forgetting again changes nothing: the kept figures are not counted twice.
    await PrivacyRepository(db, clock).forget(1, MEMBER, RULES)
    assert await HeldUsageRepository(db, clock).get(1, MEMBER) == held
    await sessions.reserve(new_session(member_id=OTHER, max_seconds=300), limits(day=600))

    # The day is over but the wait still runs: the upkeep keeps the row.
    clock.now = DAY_0.end + 60
    assert await HeldUsageRepository(db, clock).expire() == 0
    with pytest.raises(LimitReached):
        await sessions.reserve(new_session(member_id=MEMBER, max_seconds=60), limits(wait=WAIT))
    # Once the wait is over too, nothing of the member remains, and they start freely.
    clock.now = last_end + WAIT
    assert await HeldUsageRepository(db, clock).get(1, MEMBER) is None
    assert await HeldUsageRepository(db, clock).expire() == 1
    assert await member_rows(db, database_target, MEMBER) == {}
    await sessions.reserve(
        new_session(member_id=MEMBER, max_seconds=600), limits(day=600, wait=WAIT)
    )


async def test_nothing_is_kept_when_the_limits_need_nothing(
    db: Database, database_target: str | Path, clock: FakeClock
) -> None:
    sessions = SessionRepository(db, clock)
    call = await sessions.reserve(new_session(member_id=MEMBER), LiveLimits())
    # Yesterday's call, with no wait between calls: today's allowance owes it nothing.
    await sessions.settle(call.id, used_seconds=30, end_reason=EndReason.COMPLETED, ended_at=T0)
    clock.now = DAY_0.end + 10
    tomorrow = HoldRules(Period(DAY_0.end, DAY_0.end + 86_400), call_cooldown=0, video_cooldown=0)
    await PrivacyRepository(db, clock).forget(1, MEMBER, tomorrow)
    assert await member_rows(db, database_target, MEMBER) == {}


class _NoVideoLimit:
    def day(self, now: int) -> Period:
        return DAY_0

    def admit(self, seconds: int, facts: VideoFacts, now: int) -> None:
        return None


def new_video(member: int) -> NewVideo:
    return NewVideo(
        guild_id=1,
        channel_id=5,
        member_id=member,
        avatar_label="Runway preset",
        estimate_seconds=5,
        upload_limit=10 * 1024 * 1024,
        text="Hello there",
        preset_id="influencer",
    )
