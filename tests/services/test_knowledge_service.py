"""Knowledge: budgets, concurrent adds, and nothing half stored when Runway fails."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import InvalidInput, NotAllowed
from bot.runway.errors import UnavailableError
from bot.services.avatars import AvatarDraft, ImageUpload
from bot.services.knowledge import BUDGET
from bot.services.token_count import estimate_tokens
from bot.storage import Avatar, DocumentRepository
from tests.services.conftest import ADMIN, GUILD, MEMBER, World, png

AVATAR_ITEM = "/v1/avatars/{id}"
DOCUMENT_ITEM = "/v1/documents/{id}"


async def make_avatar(world: World, name: str = "Ada") -> Avatar:
    async def quiet(_: str) -> None:
        return None

    created = await world.services.avatars.create(
        GUILD,
        ADMIN,
        AvatarDraft(name=name, personality="Tutor.", voice="clara"),
        ImageUpload(data=png(), url="https://cdn.example.org/a.png"),
        progress=quiet,
    )
    return created.avatar


async def remote_document_ids(world: World, avatar: Avatar) -> set[str]:
    assert avatar.runway_id
    return set((await world.runway.get_avatar(avatar.runway_id)).document_ids)


async def test_add_attaches_at_runway_and_reports_budget(world: World) -> None:
    avatar = await make_avatar(world)
    document, summary = await world.services.knowledge.add(
        GUILD, ADMIN, avatar, filename="menu.md", data=b"# Menu\nSoup: tomato."
    )
    assert document.name == "menu.md"
    assert summary.used == document.tokens
    assert summary.remaining == BUDGET - document.tokens
    assert await remote_document_ids(world, avatar) == {document.runway_id}


async def test_two_concurrent_adds_both_survive(world: World) -> None:
    avatar = await make_avatar(world)
    results = await asyncio.gather(
        world.services.knowledge.add(GUILD, ADMIN, avatar, filename="a.txt", data=b"Alpha."),
        world.services.knowledge.add(GUILD, ADMIN, avatar, filename="b.txt", data=b"Beta."),
    )
    ids = {document.runway_id for document, _ in results}
    assert await remote_document_ids(world, avatar) == ids
    assert len((await world.services.knowledge.summary(GUILD, avatar)).documents) == 2


async def test_members_cannot_add(world: World) -> None:
    avatar = await make_avatar(world)
    with pytest.raises(NotAllowed):
        await world.services.knowledge.add(GUILD, MEMBER, avatar, filename="a.txt", data=b"x")


async def test_over_budget_says_what_remains(world: World) -> None:
    avatar = await make_avatar(world)
    text = "The members of this server meet on Fridays to talk about games. " * 2300
    tokens = estimate_tokens(text)  # about 32,000
    await world.services.knowledge.add(GUILD, ADMIN, avatar, filename="big.txt", data=text.encode())
    with pytest.raises(InvalidInput) as caught:
        await world.services.knowledge.add(
            GUILD, ADMIN, avatar, filename="more.txt", data=text.encode()
        )
    assert f"about {tokens:,} tokens" in caught.value.user_message
    assert f"{50_000 - tokens:,} of its 50,000" in caught.value.user_message
    assert world.sandbox.handled("POST", "/v1/documents") == 1


async def test_failed_attach_deletes_the_new_document(world: World) -> None:
    avatar = await make_avatar(world)
    world.sandbox.inject("PATCH", AVATAR_ITEM, status=500, times=1)
    with pytest.raises(UnavailableError):
        await world.services.knowledge.add(GUILD, ADMIN, avatar, filename="a.txt", data=b"Hi.")
    assert world.sandbox.handled("DELETE", DOCUMENT_ITEM) == 1
    assert (await world.services.knowledge.summary(GUILD, avatar)).documents == []
    assert await remote_document_ids(world, avatar) == set()


async def test_unreachable_delete_leaves_an_orphan_the_cleanup_removes(world: World) -> None:
    avatar = await make_avatar(world)
    world.sandbox.inject("PATCH", AVATAR_ITEM, status=500, times=1)
    world.sandbox.inject("DELETE", DOCUMENT_ITEM, status=503, times=2)
    with pytest.raises(UnavailableError):
        await world.services.knowledge.add(GUILD, ADMIN, avatar, filename="a.txt", data=b"Hi.")
    documents = DocumentRepository(world.database)
    orphans = await documents.list_orphaned(created_before=2**40)
    assert len(orphans) == 1
    assert await world.services.knowledge.clean_orphans(now=2**40) == 1
    assert await documents.list_orphaned(created_before=2**40) == []


async def test_remove_detaches_and_tolerates_runway_404(world: World) -> None:
    avatar = await make_avatar(world)
    document, _ = await world.services.knowledge.add(
        GUILD, ADMIN, avatar, filename="a.txt", data=b"Hi."
    )
    await world.runway.delete_document(document.runway_id)
    removed = await world.services.knowledge.remove(GUILD, ADMIN, avatar, str(document.id))
    assert removed.id == document.id
    assert (await world.services.knowledge.summary(GUILD, avatar)).documents == []


async def test_seed_explains_what_is_possible(seed_world: World) -> None:
    avatar = await make_avatar(seed_world)
    with pytest.raises(InvalidInput) as caught:
        await seed_world.services.knowledge.add(GUILD, ADMIN, avatar, filename="a.txt", data=b"Hi.")
    assert "only be given when an avatar is" in caught.value.user_message
