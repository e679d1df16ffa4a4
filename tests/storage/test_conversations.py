"""The calls whose conversation Runway keeps: recorded when a session gets its Runway id,
due by each server's retention or at once when forgotten, kept until deleted there."""

from __future__ import annotations

from bot.settings import Dialect
from bot.storage import Database, EndReason, GuildSettingsRepository, LiveLimits, SessionRepository
from bot.storage.conversations import ConversationRepository, RetentionRule
from bot.storage.privacy import PrivacyRepository

from .conftest import FakeClock
from .helpers import new_session

DAY = 86_400


async def call(db: Database, clock: FakeClock, runway_id: str, **changes: object) -> int:
    sessions = SessionRepository(db, clock)
    session = await sessions.reserve(new_session(**changes), LiveLimits())
    await sessions.mark_open(
        session.id, runway_id=runway_id, join_code_hash=runway_id.encode(), code_expires_at=0
    )
    await sessions.settle(session.id, used_seconds=30, end_reason=EndReason.COMPLETED, ended_at=0)
    return session.id


async def test_a_production_call_is_kept_until_deleted_and_a_seed_one_never_is(
    db: Database, clock: FakeClock
) -> None:
    conversations = ConversationRepository(db, clock)
    await call(db, clock, "prod-1")
    await call(db, clock, "seed-1", dialect=Dialect.SEED)
    assert await conversations.kept("prod-1")
    assert not await conversations.kept("seed-1")
    await conversations.deleted("prod-1")
    assert not await conversations.kept("prod-1")


async def test_retention_makes_old_ones_due_oldest_first_and_failures_wait_their_retry(
    db: Database, clock: FakeClock
) -> None:
    conversations = ConversationRepository(db, clock)
    for name in ("old", "older-guild-2", "new"):
        await call(db, clock, name, guild_id=2 if "guild-2" in name else 1)
        clock.now += 5 * DAY
    await GuildSettingsRepository(db, clock).update(1, conversation_days=7)
    assert await conversations.rules() == [RetentionRule(1, 7)]
    due = await conversations.due(RetentionRule(1, 7), limit=10)
    assert [c.runway_id for c in due] == ["old"]

    assert await conversations.failed("old", "Runway is down " * 40, retry_after=600) == 1
    assert await conversations.due(RetentionRule(1, 7), limit=10) == []
    failing = await conversations.failing(1)
    assert (failing.count, failing.most_attempts) == (1, 1)
    assert failing.last_error is not None
    assert len(failing.last_error) == 300
    clock.now += 600
    assert [c.attempts for c in await conversations.due(RetentionRule(1, 7), limit=10)] == [1]


async def test_a_forgotten_member_s_conversations_are_due_at_once_without_their_name(
    db: Database, clock: FakeClock
) -> None:
    conversations = ConversationRepository(db, clock)
    await call(db, clock, "mine", member_id=501)
    await call(db, clock, "theirs", member_id=502)
    await call(db, clock, "mine-elsewhere", member_id=501, guild_id=2)
    erased = await PrivacyRepository(db).forget(1, 501)
    assert erased["call conversations at Runway"] == 1
    due = await conversations.forgotten(limit=10)
    assert [(c.runway_id, c.member_id, c.forgotten) for c in due] == [("mine", 0, True)]
    assert await conversations.forgotten(limit=10, guild_id=2) == []
    assert await conversations.kept("mine")  # until Runway confirms the deletion
