"""Knowledge documents: budget, isolation, orphans."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import (
    AvatarRepository,
    Database,
    DocumentRepository,
    DocumentState,
    NotFoundError,
    TokenBudgetExceededError,
)

from .conftest import T0, FakeClock
from .helpers import new_avatar, new_document


@pytest.fixture
async def avatar_id(db: Database) -> int:
    return (await AvatarRepository(db).add(new_avatar())).id


async def test_add_list_and_count_tokens(db: Database, avatar_id: int) -> None:
    documents = DocumentRepository(db)
    first = await documents.add(new_document(avatar_id, "doc-1", tokens=1200))
    await documents.add(new_document(avatar_id, "doc-2", tokens=800))
    assert first.state is DocumentState.ATTACHED
    assert [d.runway_id for d in await documents.list_for_avatar(1, avatar_id)] == [
        "doc-1",
        "doc-2",
    ]
    assert await documents.tokens_for_avatar(1, avatar_id) == 2000
    assert await documents.get(1, first.id) == first


async def test_another_guild_cannot_reach_or_add_to_the_avatar(
    db: Database, avatar_id: int
) -> None:
    documents = DocumentRepository(db)
    doc = await documents.add(new_document(avatar_id, "doc-1"))
    assert await documents.get(2, doc.id) is None
    assert await documents.list_for_avatar(2, avatar_id) == []
    assert await documents.tokens_for_avatar(2, avatar_id) == 0
    assert await documents.mark_orphaned(2, doc.id) is False
    assert await documents.delete(2, doc.id) is False
    with pytest.raises(NotFoundError):
        await documents.add(new_document(avatar_id, "doc-2", guild_id=2))
    assert await documents.get(1, doc.id) == doc


async def test_budget_is_enforced(db: Database, avatar_id: int) -> None:
    documents = DocumentRepository(db)
    await documents.add(new_document(avatar_id, "doc-1", tokens=45_000), token_budget=50_000)
    with pytest.raises(TokenBudgetExceededError) as refused:
        await documents.add(new_document(avatar_id, "doc-2", tokens=5_001), token_budget=50_000)
    assert (refused.value.used, refused.value.requested, refused.value.budget) == (
        45_000,
        5_001,
        50_000,
    )
    assert "only 5000" in str(refused.value)
    await documents.add(new_document(avatar_id, "doc-3", tokens=5_000), token_budget=50_000)
    assert await documents.tokens_for_avatar(1, avatar_id) == 50_000


async def test_concurrent_adds_never_overshoot_the_budget(db: Database, avatar_id: int) -> None:
    documents = DocumentRepository(db)
    results = await asyncio.gather(
        *(
            documents.add(new_document(avatar_id, f"doc-{n}", tokens=10_000), token_budget=50_000)
            for n in range(12)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(result, TokenBudgetExceededError) for result in results) == 7
    assert await documents.tokens_for_avatar(1, avatar_id) == 50_000


async def test_orphans_are_listed_for_cleanup_and_can_be_attached(
    db: Database, avatar_id: int, clock: FakeClock
) -> None:
    documents = DocumentRepository(db, clock)
    pending = await documents.add(
        new_document(avatar_id, "doc-1", tokens=100), state=DocumentState.ORPHANED
    )
    assert await documents.tokens_for_avatar(1, avatar_id) == 0
    assert await documents.list_for_avatar(1, avatar_id) == []
    # A cleanup leaves young orphans alone: an add may still be attaching them.
    assert await documents.list_orphaned(created_before=T0) == []
    assert await documents.list_orphaned(created_before=T0 + 1) == [pending]

    attached = await documents.attach(1, pending.id, token_budget=100)
    assert attached is not None
    assert attached.state is DocumentState.ATTACHED
    assert await documents.attach(1, pending.id) is None  # no longer an orphan
    assert await documents.tokens_for_avatar(1, avatar_id) == 100


async def test_attach_respects_the_budget_and_the_guild(db: Database, avatar_id: int) -> None:
    documents = DocumentRepository(db)
    await documents.add(new_document(avatar_id, "doc-1", tokens=900))
    orphan = await documents.add(
        new_document(avatar_id, "doc-2", tokens=200), state=DocumentState.ORPHANED
    )
    assert await documents.attach(2, orphan.id) is None
    with pytest.raises(TokenBudgetExceededError):
        await documents.attach(1, orphan.id, token_budget=1000)
    still = await documents.get(1, orphan.id)
    assert still is not None
    assert still.state is DocumentState.ORPHANED


async def test_mark_orphaned_then_delete(db: Database, avatar_id: int) -> None:
    documents = DocumentRepository(db)
    doc = await documents.add(new_document(avatar_id, "doc-1"))
    assert await documents.mark_orphaned(1, doc.id)
    orphan = await documents.get(1, doc.id)
    assert orphan is not None
    assert (orphan.state, orphan.avatar_id) == (DocumentState.ORPHANED, avatar_id)
    assert await documents.delete(1, doc.id)
    assert await documents.delete(1, doc.id) is False
    assert await documents.get(1, doc.id) is None
