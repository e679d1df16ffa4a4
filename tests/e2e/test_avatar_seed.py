"""/avatar and /knowledge end to end against a Runway that speaks the seed description.

The seed API can create avatars (from a link to the image, not its bytes) and documents,
but cannot read, change or delete an avatar; the bot says so instead of failing obscurely.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.runway.sandbox import Sandbox
from bot.services.knowledge import SEED_EXPLANATION
from bot.services.videos import SEED_REFUSAL
from tests.e2e.avatar_steps import (
    avatar_id,
    avatar_rows,
    create_avatar,
    open_create,
    picture,
    refusal,
    settled,
    submit_create,
    text_appears,
    text_file,
)
from tests.e2e.conftest import runway_settings
from tests.fakediscord import Attachment, BotProcess, FakeDiscord, Member

AVATARS = "/v1/avatars"


@pytest.fixture(scope="module")
def runway_dialect() -> str:
    return "seed"


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest.fixture(autouse=True)
def fresh_runway(runway: Sandbox) -> None:
    runway.reset()


async def test_create_sends_runway_the_attachments_link(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, runway: Sandbox, database: Path
) -> None:
    opened = await open_create(fake_discord, admin, "Mia", voice="studio-voice-7")
    [attached] = opened.payload["data"]["resolved"]["attachments"].values()
    reply = await settled(fake_discord, await submit_create(fake_discord, opened))

    assert reply.ephemeral
    assert reply.embed.title == "Mia"
    fields = {str(item.name): str(item.value) for item in reply.embed.fields}
    assert fields["Status"] == "✅ ready"
    assert fields["Voice"] == "Studio-Voice-7 (Runway preset voice)"
    assert fields["Knowledge"] == "0 of 50,000 tokens used"
    [stored] = avatar_rows(database, admin.guild.id)
    assert stored["reference_image_uri"] == attached["url"]
    assert stored["image_source_url"] == attached["url"]
    assert (stored["status"], stored["voice_preset"]) == ("READY", "studio-voice-7")
    assert runway.handled("POST", AVATARS) == 1


async def test_voice_autocomplete_takes_any_preset_id(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    choices = await fake_discord.autocomplete(
        "avatar create", "voice", "My-Voice", member=admin, options={"name": "Mia"}
    )
    assert [(choice.name, choice.value) for choice in choices] == [
        ("my-voice (custom preset id)", "my-voice")
    ]


async def test_voice_autocomplete_never_echoes_more_than_discord_takes(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    """Typing a long id once came back as a choice of 139 and 120 characters (Discord takes
    100 for each): now the label is cut, and what no voice id can be is not offered."""

    async def offered(typed: str) -> list[tuple[str, str | int | float]]:
        choices = await fake_discord.autocomplete(
            "avatar create", "voice", typed, member=admin, options={"name": "Mia"}
        )
        return [(choice.name, choice.value) for choice in choices]

    longest = "v" * 64
    assert await offered(longest) == [("v" * 39 + "… (custom preset id)", longest)]
    assert await offered("v" * 120) == []


async def test_the_image_is_still_checked_by_its_bytes(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, runway: Sandbox, database: Path
) -> None:
    gif = Attachment("face.png", picture("GIF"), "image/png")
    submitted = await submit_create(
        fake_discord, await open_create(fake_discord, admin, "Mia", attachment=gif)
    )
    assert await refusal(fake_discord, submitted) == (
        "That file is a GIF, not a JPEG, PNG or WebP image. Use a JPEG, PNG or WebP image."
    )
    assert avatar_rows(database, admin.guild.id) == []
    assert runway.requests("POST", AVATARS) == 0


async def test_edit_says_clearly_that_it_is_not_possible(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    chosen = await avatar_id(fake_discord, admin, "Mia")
    result = await fake_discord.invoke("avatar edit", member=admin, options={"avatar": chosen})
    assert await refusal(fake_discord, result) == (
        "The Runway API this bot is set up for (the seed description) cannot change an "
        "avatar after it is made. Delete it and create it again instead."
    )


async def test_knowledge_add_explains_what_is_possible(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, runway: Sandbox
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    chosen = await avatar_id(fake_discord, admin, "Mia")
    result = await fake_discord.invoke(
        "knowledge add",
        member=admin,
        options={"avatar": chosen},
        attachments=[text_file("Open at nine.")],
    )
    assert await refusal(fake_discord, result) == SEED_EXPLANATION
    assert runway.requests("POST", "/v1/documents") == 0


async def test_show_list_and_delete_work_from_the_bots_own_records(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member, database: Path
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    chosen = await avatar_id(fake_discord, member, "Mia")
    shown = await (
        await fake_discord.invoke("avatar show", member=member, options={"avatar": chosen})
    ).final()
    assert shown.embed.title == "Mia"
    listed = await (await fake_discord.invoke("avatar list", member=member)).final()
    assert [str(item.name) for item in listed.embed.fields] == ["Mia · ✅ ready"]

    deleting = await fake_discord.invoke("avatar delete", member=admin, options={"avatar": chosen})
    await fake_discord.press_button(await deleting.original(), "Delete Mia", member=admin)
    done = await text_appears(fake_discord, deleting, "Deleted")
    assert done.content == "Deleted **Mia** and 0 knowledge document(s)."
    assert avatar_rows(database, admin.guild.id) == []


@pytest.mark.parametrize(
    ("inject", "message"),
    [
        (
            {"status": 400, "body": {"error": "Invalid request. name: Required", "code": "BAD"}},
            "Runway refused the request: Invalid request. name: Required",
        ),
        (
            {"status": 401},
            "Runway did not accept the bot's API key. An admin should check RUNWAYML_API_SECRET.",
        ),
        (
            {"status": 500},
            "Runway is unavailable at the moment; try again in a few minutes. The Runway API "
            "this bot is set up for cannot tell whether the avatar Mia was created anyway, so "
            "the bot kept nothing (admins see this in `/about`). You can try again.",
        ),
    ],
    ids=["400", "401", "500"],
)
async def test_runway_faults_are_explained_and_nothing_is_kept(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    admin: Member,
    runway: Sandbox,
    database: Path,
    inject: dict[str, object],
    message: str,
) -> None:
    runway.inject("POST", AVATARS, **inject)  # type: ignore[arg-type]
    submitted = await submit_create(fake_discord, await open_create(fake_discord, admin, "Mia"))
    assert await refusal(fake_discord, submitted) == message
    assert avatar_rows(database, admin.guild.id) == []


async def test_avatar_say_says_plainly_that_the_seed_has_no_video_endpoint(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, mia: str, runway: Sandbox
) -> None:
    result = await fake_discord.invoke(
        "avatar say", member=admin, options={"avatar": mia, "text": "Hello, everyone!"}
    )
    assert await refusal(fake_discord, result) == SEED_REFUSAL
    assert runway.requests("POST", "/v1/avatar_videos") == 0
