"""Avatar rules end to end below Discord: real SQLite, the sandbox over HTTP."""

from __future__ import annotations

import pytest

from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.runway.errors import BadRequestError, UnavailableError
from bot.services.actors import Actor
from bot.services.avatars import AvatarDraft, ImageLink, ImageUpload
from bot.services.billable import NotCreated
from bot.storage import AvatarStatus, ReviewState
from tests.services.conftest import ADMIN, GUILD, MEMBER, OTHER_GUILD, World, png

DRAFT = AvatarDraft(name="Ada", personality="A patient maths tutor.", voice="clara")
UPLOAD = ImageUpload(data=png(), url="https://cdn.example.org/ada.png")


async def no_progress(_: str) -> None:
    return None


async def test_create_follows_runway_to_ready_and_records_it(world: World) -> None:
    steps: list[str] = []

    async def progress(step: str) -> None:
        steps.append(step)

    created = await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=progress)
    assert created.avatar.status is AvatarStatus.READY
    assert created.avatar.runway_id
    assert created.avatar.processed_image_uri
    assert not created.awaiting_review
    assert any("preparing" in step for step in steps)
    history = await world.services.avatars.history(GUILD, ADMIN)
    assert [entry.action for entry in history] == ["avatar.create"]
    # Production receives the image bytes, never Discord's expiring link.
    sent = world.sandbox.traffic()
    assert sent


async def test_members_without_manage_server_cannot_create(world: World) -> None:
    with pytest.raises(NotAllowed) as caught:
        await world.services.avatars.create(GUILD, MEMBER, DRAFT, UPLOAD, progress=no_progress)
    assert "Manage Server" in caught.value.user_message


async def test_manager_role_may_create(world: World) -> None:
    await world.services.guilds.update(GUILD, manager_role_id=555)
    helper = Actor(user_id=33, role_ids=frozenset({555}))
    created = await world.services.avatars.create(
        GUILD, helper, DRAFT, UPLOAD, progress=no_progress
    )
    assert created.avatar.created_by == 33


@pytest.mark.parametrize("spelling", ["ada", "ADA", "Ａｄａ", "A\u200bda", " Ada  "])
async def test_names_are_unique_after_normalising(world: World, spelling: str) -> None:
    await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    with pytest.raises(InvalidInput) as caught:
        await world.services.avatars.check_creatable(GUILD, ADMIN, spelling)
    assert "already has an avatar" in caught.value.user_message
    draft = AvatarDraft(name=spelling, personality="x", voice="clara")
    with pytest.raises(InvalidInput):
        await world.services.avatars.create(GUILD, ADMIN, draft, UPLOAD, progress=no_progress)


async def test_same_name_in_another_server_is_fine(world: World) -> None:
    await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    other = await world.services.avatars.create(
        OTHER_GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress
    )
    assert other.avatar.guild_id == OTHER_GUILD


async def test_failed_avatar_shows_reason_and_leaves_nothing_usable(world: World) -> None:
    bad = ImageUpload(data=png(fail=True), url="https://cdn.example.org/bad.png")
    created = await world.services.avatars.create(GUILD, ADMIN, DRAFT, bad, progress=no_progress)
    assert created.avatar.status is AvatarStatus.FAILED
    assert created.avatar.failure_reason
    with pytest.raises(NotFound):
        await world.services.avatars.resolve(GUILD, "Ada")
    actions = [entry.action for entry in await world.services.avatars.history(GUILD, ADMIN)]
    assert actions[0] == "avatar.create_failed"


@pytest.mark.parametrize(
    ("status", "times", "error"),
    [(400, 1, BadRequestError), (500, 1, NotCreated), (503, 2, UnavailableError)],
)
async def test_runway_refusal_frees_the_name(
    world: World, status: int, times: int, error: type
) -> None:
    world.sandbox.inject("POST", "/v1/avatars", status=status, times=times)
    with pytest.raises(error):
        await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    with pytest.raises(NotFound):
        await world.services.avatars.resolve(GUILD, "Ada")
    created = await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    assert created.avatar.status is AvatarStatus.READY


async def test_bad_image_is_refused_before_anything_is_stored(world: World) -> None:
    gif = ImageUpload(data=b"GIF89a" + b"\x00" * 64, url="https://cdn.example.org/a.gif")
    with pytest.raises(InvalidInput) as caught:
        await world.services.avatars.create(GUILD, ADMIN, DRAFT, gif, progress=no_progress)
    assert "a GIF" in caught.value.user_message
    assert world.sandbox.requests("POST", "/v1/avatars") == 0


async def test_private_image_link_is_refused(world: World) -> None:
    link = ImageLink(url="https://169.254.169.254/latest/meta-data")
    with pytest.raises(InvalidInput) as caught:
        await world.services.avatars.create(GUILD, ADMIN, DRAFT, link, progress=no_progress)
    assert "private or local" in caught.value.user_message


async def test_other_servers_avatars_are_invisible(world: World) -> None:
    created = await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    for value in (str(created.avatar.id), "Ada", created.avatar.runway_id or ""):
        with pytest.raises(NotFound):
            await world.services.avatars.resolve(OTHER_GUILD, value)
    assert await world.services.avatars.search(OTHER_GUILD, "") == []


async def test_edit_changes_runway_and_records(world: World) -> None:
    created = await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    edited = await world.services.avatars.edit(
        GUILD,
        ADMIN,
        created.avatar,
        name="Ada Lovelace",
        personality="A poet of numbers.",
        start_script="",
        voice="luna",
    )
    assert edited.name == "Ada Lovelace"
    assert edited.start_script is None
    assert created.avatar.runway_id
    remote = await world.runway.get_avatar(created.avatar.runway_id)
    assert remote.name == "Ada Lovelace"
    assert remote.voice is not None
    assert remote.voice.preset_id == "luna"


async def test_approval_holds_new_avatars_until_reviewed(world: World) -> None:
    await world.services.guilds.update(GUILD, approval_required=True, review_channel_id=77)
    created = await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    assert created.awaiting_review
    assert not created.avatar.usable
    approved = await world.services.avatars.review(GUILD, ADMIN, created.avatar.id, approve=True)
    assert approved.review_state is ReviewState.APPROVED
    assert approved.usable
    with pytest.raises(InvalidInput):
        await world.services.avatars.review(GUILD, ADMIN, created.avatar.id, approve=False)


async def test_delete_removes_avatar_and_its_documents_at_runway(world: World) -> None:
    created = await world.services.avatars.create(GUILD, ADMIN, DRAFT, UPLOAD, progress=no_progress)
    await world.services.knowledge.add(
        GUILD, ADMIN, created.avatar, filename="notes.txt", data=b"Fractions first."
    )
    removed = await world.services.avatars.delete(GUILD, ADMIN, created.avatar)
    assert removed == 1
    assert world.sandbox.handled("DELETE", "/v1/avatars/{id}") == 1
    assert world.sandbox.handled("DELETE", "/v1/documents/{id}") == 1
    with pytest.raises(NotFound):
        await world.services.avatars.resolve(GUILD, "Ada")


async def test_seed_sends_the_link_and_is_ready_at_once(seed_world: World) -> None:
    created = await seed_world.services.avatars.create(
        GUILD,
        ADMIN,
        AvatarDraft(name="Bard", personality="Rhymes.", voice="any-voice"),
        UPLOAD,
        progress=no_progress,
    )
    assert created.avatar.status is AvatarStatus.READY
    assert created.avatar.image_source_url == UPLOAD.url
