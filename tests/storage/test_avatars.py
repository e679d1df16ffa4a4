"""Avatars: guild isolation, names unique once normalised, search, limits, delete."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import (
    AuditEvent,
    AuditRepository,
    AvatarRepository,
    AvatarStatus,
    Database,
    DocumentRepository,
    DocumentState,
    DuplicateNameError,
    LimitReached,
    LiveLimits,
    ReviewState,
    SessionRepository,
    name_key,
)

from .conftest import T0, FakeClock
from .helpers import new_avatar, new_document, new_session


async def test_add_then_get(db: Database, clock: FakeClock) -> None:
    avatars = AvatarRepository(db, clock)
    added = await avatars.add(new_avatar(start_script="Hello!", image_source_url="https://x/y.png"))
    assert added.status is AvatarStatus.PROCESSING
    assert added.review_state is ReviewState.APPROVED
    assert added.runway_id is None
    assert added.name_key == "ada"
    assert added.created_at == added.updated_at == T0
    assert not added.usable
    assert await avatars.get(1, added.id) == added
    assert await avatars.get_by_name(1, "  ADA ") == added


async def test_another_guild_never_sees_the_avatar(db: Database) -> None:
    avatars = AvatarRepository(db)
    added = await avatars.add(new_avatar(guild_id=1))
    await avatars.update(1, added.id, runway_id="rw-1")
    assert await avatars.get(2, added.id) is None
    assert await avatars.get_by_name(2, "Ada") is None
    assert await avatars.get_by_runway_id(2, "rw-1") is None
    assert (await avatars.get_by_runway_id(1, "rw-1")) is not None
    assert await avatars.search(2, "") == []
    assert await avatars.list_page(2, limit=10) == []
    assert await avatars.update(2, added.id, personality="hijacked") is None
    assert await avatars.delete(2, added.id) is False
    assert (await avatars.get(1, added.id)) is not None


@pytest.mark.parametrize("spelling", ["ada", "ADA", "Ａｄａ", "A\u200bda", " Ada ", "A\u0000da"])
async def test_names_are_unique_once_normalised(db: Database, spelling: str) -> None:
    avatars = AvatarRepository(db)
    await avatars.add(new_avatar(name="Ada"))
    with pytest.raises(DuplicateNameError):
        await avatars.add(new_avatar(name=spelling))


async def test_the_same_name_is_fine_in_another_guild(db: Database) -> None:
    avatars = AvatarRepository(db)
    await avatars.add(new_avatar(guild_id=1, name="Ada"))
    assert (await avatars.add(new_avatar(guild_id=2, name="Ada"))).guild_id == 2


async def test_concurrent_adds_of_one_name_store_one(db: Database) -> None:
    avatars = AvatarRepository(db)
    results = await asyncio.gather(
        *(avatars.add(new_avatar(name=f"ADA{' ' * n}")) for n in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(result, Exception) for result in results) == 1
    assert await avatars.count(1) == 1


def test_name_key_refuses_invisible_names() -> None:
    with pytest.raises(ValueError, match="visible"):
        name_key("\u200b \u200d")
    assert name_key("Ｍｉｘｅｄ   Case\u00a0Name") == "mixed case name"


async def test_rename_checks_uniqueness_but_allows_respelling_itself(db: Database) -> None:
    avatars = AvatarRepository(db)
    ada = await avatars.add(new_avatar(name="Ada"))
    await avatars.add(new_avatar(name="Bob"))
    with pytest.raises(DuplicateNameError):
        await avatars.update(1, ada.id, name="bob")
    respelled = await avatars.update(1, ada.id, name="ADA")
    assert respelled is not None
    assert respelled.name == "ADA"


async def test_update_changes_only_the_fields_given(db: Database, clock: FakeClock) -> None:
    avatars = AvatarRepository(db, clock)
    ada = await avatars.add(new_avatar(start_script="Hi"))
    clock.now += 60
    ready = await avatars.update(
        1,
        ada.id,
        runway_id="rw-1",
        status=AvatarStatus.READY,
        processed_image_uri="https://runway/processed.png",
        start_script=None,
    )
    assert ready is not None
    assert ready.usable
    assert ready.start_script is None
    assert ready.personality == ada.personality
    assert ready.name == "Ada"
    assert ready.updated_at == T0 + 60
    assert ready.created_at == T0

    failed = await avatars.update(1, ada.id, status=AvatarStatus.FAILED, failure_reason="blurry")
    assert failed is not None
    assert (failed.status, failed.failure_reason) == (AvatarStatus.FAILED, "blurry")
    pending = await avatars.update(1, ada.id, review_state=ReviewState.PENDING, review_message_id=9)
    assert pending is not None
    assert pending.review_message_id == 9


async def test_search_matches_anywhere_prefix_first_and_can_require_usable(db: Database) -> None:
    avatars = AvatarRepository(db)
    for name in ["Chef Marco", "Marco Polo", "Amarcord", "Zed"]:
        added = await avatars.add(new_avatar(name=name))
        if name != "Marco Polo":
            await avatars.update(1, added.id, status=AvatarStatus.READY)
    assert [a.name for a in await avatars.search(1, "MARCO")] == [
        "Marco Polo",
        "Amarcord",
        "Chef Marco",
    ]
    assert [a.name for a in await avatars.search(1, "marco", usable_only=True)] == [
        "Amarcord",
        "Chef Marco",
    ]
    assert len(await avatars.search(1, "", limit=2)) == 2
    assert await avatars.search(1, "\u200b") != []  # odd input lists, never raises


async def test_list_page_and_count(db: Database) -> None:
    avatars = AvatarRepository(db)
    for name in ["c", "a", "b", "d"]:
        await avatars.add(new_avatar(name=name))
    assert await avatars.count(1) == 4
    assert [a.name for a in await avatars.list_page(1, limit=3)] == ["a", "b", "c"]
    assert [a.name for a in await avatars.list_page(1, limit=3, offset=3)] == ["d"]


async def test_max_avatars_holds_under_concurrency(db: Database) -> None:
    avatars = AvatarRepository(db)
    results = await asyncio.gather(
        *(avatars.add(new_avatar(name=f"a{n}"), max_avatars=3) for n in range(20)),
        return_exceptions=True,
    )
    refused = [result for result in results if isinstance(result, LimitReached)]
    assert len(refused) == 17
    assert refused[0].limit == "guild_avatars"
    assert await avatars.count(1) == 3


async def test_changes_and_their_audit_entry_commit_together(db: Database) -> None:
    avatars, audit = AvatarRepository(db), AuditRepository(db)
    ada = await avatars.add(new_avatar(), audit=AuditEvent(100, "avatar.create", "Ada"))
    await avatars.add(new_avatar(name="Bob"))
    with pytest.raises(DuplicateNameError):
        await avatars.update(
            1, ada.id, name="Bob", audit=AuditEvent(100, "avatar.edit", "Ada -> Bob")
        )
    await avatars.update(1, ada.id, personality="x", audit=AuditEvent(100, "avatar.edit", "Ada"))
    await avatars.delete(1, ada.id, audit=AuditEvent(100, "avatar.delete", "Ada"))
    assert await avatars.delete(1, ada.id, audit=AuditEvent(100, "avatar.delete", "again")) is False
    history = await audit.history(1)
    assert [entry.action for entry in history] == ["avatar.delete", "avatar.edit", "avatar.create"]


async def test_delete_orphans_its_documents_and_keeps_session_labels(db: Database) -> None:
    avatars, documents, sessions = (
        AvatarRepository(db),
        DocumentRepository(db),
        SessionRepository(db),
    )
    ada = await avatars.add(new_avatar())
    doc = await documents.add(new_document(ada.id, "doc-1"))
    session = await sessions.reserve(
        new_session(avatar_id=ada.id, preset_id=None, avatar_label="Ada"), LiveLimits()
    )
    assert await avatars.delete(1, ada.id)
    orphan = await documents.get(1, doc.id)
    assert orphan is not None
    assert (orphan.state, orphan.avatar_id) == (DocumentState.ORPHANED, None)
    kept = await sessions.get(1, session.id)
    assert kept is not None
    assert (kept.avatar_id, kept.avatar_label) == (None, "Ada")
