"""Transcripts and recordings below Discord: fetched from Runway on demand (never stored),
each server's choices, the look-ups admins make (audited), and deletions at Runway that are
retried until Runway confirms them."""

from __future__ import annotations

import pytest

from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services.actors import Actor
from bot.services.conversations import (
    GONE,
    NO_CONVERSATIONS,
    Speaker,
    TranscriptSharing,
)
from bot.services.sessions import PRESET_PREFIX
from bot.storage import AuditRepository, EndReason, Session, SessionRepository
from tests.services.conftest import ADMIN, GUILD, MEMBER, OTHER_GUILD, World

PRESET = PRESET_PREFIX + "cooking-teacher"
CONVERSATION = "/v1/avatar_conversations/{id}"


async def call(world: World, actor: Actor = MEMBER, seconds: float = 30) -> Session:
    """A call the member joined and hung up after `seconds`, settled by the tracker."""
    sessions = world.services.sessions
    started = await sessions.start(GUILD, actor, await sessions.target(GUILD, PRESET))
    state, _ = await sessions.redeem(started.join_url.rsplit("/", 1)[1])
    assert state.value == "ok"
    opened = await SessionRepository(world.database).get(GUILD, started.session.id)
    assert opened is not None
    assert opened.runway_id is not None
    world.sandbox.end_session(opened.runway_id, after_seconds=seconds)
    await world.services.tracker.check(opened)
    ended = await SessionRepository(world.database).get(GUILD, started.session.id)
    assert ended is not None
    return ended


async def share(world: World, **changes: object) -> None:
    await world.services.conversations.update(GUILD, ADMIN, **changes)  # type: ignore[arg-type]


async def test_settings_are_for_admins_and_the_moderation_log_needs_a_channel(
    world: World,
) -> None:
    conversations = world.services.conversations
    settings = await conversations.settings(GUILD)
    assert (settings.transcripts, settings.recordings, settings.keep_days) == (
        TranscriptSharing.OFF,
        False,
        None,
    )
    with pytest.raises(NotAllowed):
        await conversations.update(GUILD, MEMBER, recordings=True)
    with pytest.raises(InvalidInput, match="moderation log channel"):
        await conversations.update(GUILD, ADMIN, transcripts=TranscriptSharing.MODERATION)
    with pytest.raises(InvalidInput, match="1 to 365 days"):
        await conversations.update(GUILD, ADMIN, keep_days=400)
    changed = await conversations.update(
        GUILD,
        ADMIN,
        transcripts=TranscriptSharing.MODERATION,
        moderation_channel_id=77,
        recordings=True,
        keep_days=30,
    )
    assert (changed.transcripts, changed.moderation_channel_id, changed.keep_days) == (
        TranscriptSharing.MODERATION,
        77,
        30,
    )
    told = await conversations.disclosure(GUILD)
    assert "posted for this server's moderators" in told.transcript
    assert told.kept == "30 days at Runway, then the bot deletes both"
    assert (await conversations.settings(OTHER_GUILD)).transcripts is TranscriptSharing.OFF


async def test_the_seed_has_no_conversations_and_says_so(seed_world: World) -> None:
    conversations = seed_world.services.conversations
    with pytest.raises(InvalidInput) as refused:
        await conversations.update(GUILD, ADMIN, recordings=True)
    assert refused.value.user_message == NO_CONVERSATIONS
    with pytest.raises(InvalidInput):
        await conversations.history(GUILD, MEMBER)
    assert (await conversations.disclosure(GUILD)).kept == "Nothing is kept"


async def test_a_transcript_is_fetched_from_runway_only_where_the_server_shares_it(
    world: World,
) -> None:
    ended = await call(world)
    conversations = world.services.conversations
    assert (await conversations.transcript(ended)).problem == (
        "This server doesn't share transcripts of its calls."
    )
    await share(world, transcripts=TranscriptSharing.MEMBER)
    gets = world.sandbox.requests("GET", CONVERSATION)
    fetched = await conversations.transcript(ended)
    assert world.sandbox.requests("GET", CONVERSATION) == gets + 1  # on demand, every time
    assert fetched.transcript is not None
    lines = fetched.transcript.lines
    assert [line.speaker for line in lines][:2] == [Speaker.AVATAR, Speaker.MEMBER]
    assert [line.at for line in lines] == [0, 4, 8, 12, 16]
    assert lines[1].text == "Tell me something surprising."

    world.sandbox.inject("GET", CONVERSATION, status=503, times=2)  # both tries fail
    failing = await conversations.transcript(ended)
    assert failing.problem is not None
    assert failing.problem.startswith("Runway could not be asked for it just now")
    assert ended.runway_id is not None
    await world.runway.delete_conversation(ended.runway_id)
    assert (await conversations.transcript(ended)).problem == GONE


async def test_a_recording_link_is_fresh_each_time_for_its_member_or_an_admin_audited(
    world: World,
) -> None:
    ended = await call(world)
    conversations = world.services.conversations
    with pytest.raises(InvalidInput, match="doesn't offer recordings"):
        await conversations.recording(ended.id, MEMBER, GUILD)
    await share(world, recordings=True)
    first = await conversations.recording(ended.id, MEMBER, None)  # from the DM: no server
    world.sandbox.advance(1)
    second = await conversations.recording(ended.id, MEMBER, None)
    assert first.url != second.url
    with pytest.raises(NotAllowed):
        await conversations.recording(ended.id, Actor(user_id=999), GUILD)
    with pytest.raises(NotAllowed):  # an admin of another server
        await conversations.recording(ended.id, ADMIN, OTHER_GUILD)
    await conversations.recording(ended.id, ADMIN, GUILD)
    [entry] = await AuditRepository(world.database).history(GUILD)
    assert (entry.actor_id, entry.action, entry.detail["member_id"]) == (
        ADMIN.user_id,
        "call.recording",
        str(MEMBER.user_id),
    )
    with pytest.raises(NotFound, match="no longer in the bot's records"):
        await conversations.recording(10**9, MEMBER, None)


async def test_history_and_look_ups(world: World) -> None:
    ended = await call(world)
    conversations = world.services.conversations
    assert [s.id for s in await conversations.history(GUILD, MEMBER)] == [ended.id]
    assert await conversations.history(GUILD, ADMIN) == []
    with pytest.raises(NotAllowed):
        await conversations.lookup(GUILD, MEMBER, member_id=MEMBER.user_id)
    found = await conversations.lookup(GUILD, ADMIN, member_id=MEMBER.user_id)
    assert [s.id for s in found] == [ended.id]
    [entry] = await AuditRepository(world.database).history(GUILD)
    assert (entry.action, entry.detail) == ("call.lookup", {"member_id": str(MEMBER.user_id)})
    await world.services.privacy.forget(GUILD, MEMBER)
    [entry] = await AuditRepository(world.database).history(GUILD)
    assert entry.detail == {"member_id": "0"}  # the look-up stays, whose calls does not


async def test_retention_deletes_at_runway_and_keeps_retrying_what_runway_refuses(
    world: World,
) -> None:
    ended = await call(world)
    assert ended.runway_id is not None
    conversations = world.services.conversations
    await share(world, keep_days=1)
    assert (await conversations.delete_due()).deleted == 0  # not a day old yet
    await world.database.write(
        lambda tx: tx.execute("UPDATE conversations SET started_at = started_at - 2 * 86400")
    )
    world.sandbox.inject("DELETE", CONVERSATION, status=503, times=None)
    refused = await conversations.delete_due()
    assert (refused.deleted, refused.failed) == (0, 1)
    assert (await conversations.failing(GUILD)).count == 1
    await world.database.write(lambda tx: tx.execute("UPDATE conversations SET retry_at = 0"))
    await conversations.delete_due()
    await world.database.write(lambda tx: tx.execute("UPDATE conversations SET retry_at = 0"))
    await conversations.delete_due()
    [entry] = await AuditRepository(world.database).history(GUILD)
    assert entry.action == "call.delete_failing"  # reported once, at the third refusal
    assert ended.runway_id in world.sandbox.inventory()["conversations"]

    world.sandbox.inject("DELETE", CONVERSATION, times=1)  # Runway is back: the stuck
    world.sandbox._faults.clear()  # fault goes (the sandbox's reset would forget the calls)
    await world.database.write(lambda tx: tx.execute("UPDATE conversations SET retry_at = 0"))
    assert (await conversations.delete_due()).deleted == 1
    assert ended.runway_id not in world.sandbox.inventory()["conversations"]
    assert (await conversations.failing(GUILD)).count == 0
    assert (await conversations.transcript(ended)).problem in (
        GONE,
        "This server doesn't share transcripts of its calls.",
    )


async def test_a_forgotten_members_conversations_are_deleted_at_once(world: World) -> None:
    mine = await call(world)
    theirs = await call(world, Actor(user_id=333))
    await world.services.tracker.end_now(mine, EndReason.MEMBER_ENDED)
    forgotten = await world.services.privacy.forget(GUILD, MEMBER)
    assert forgotten.erased["call conversations at Runway"] == 1
    done = await world.services.conversations.forget_now(GUILD)
    assert (done.deleted, done.failed) == (1, 0)
    kept = world.sandbox.inventory()["conversations"]
    assert mine.runway_id not in kept
    assert theirs.runway_id in kept
