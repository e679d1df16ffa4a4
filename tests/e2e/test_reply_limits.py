"""Replies fit Discord whatever a member typed or Runway said (issue 15's cases).

Each case once broke one of Discord's limits, so Discord refused the reply and the
member read an incident id, "The application did not respond", or a reply stuck on its
"⏳" line, sometimes after the work was done. The fake Discord now refuses exactly what
Discord refuses (the autouse honesty check fails any test whose bot sent such a body);
here the member gets a trimmed, readable reply and nothing is left half-done.
(The seed dialect's voice autocomplete is in test_avatar_seed.py.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.runway.sandbox import Sandbox
from tests.e2e.avatar_steps import (
    at_runway,
    avatar_id,
    avatar_rows,
    create_avatar,
    document_rows,
    open_create,
    refusal,
    settled,
    submit_create,
    text_appears,
    text_file,
)
from tests.e2e.conftest import runway_settings
from tests.fakediscord import CallbackType, FakeDiscord, Member, Message

AVATARS = "/v1/avatars"
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
DOCUMENTS = "/v1/documents"
EMBED_TOTAL = 6000


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest.fixture(autouse=True)
def fresh_runway(runway: Sandbox) -> None:
    runway.reset()
    runway.config.avatar_processing_seconds = 0.0


def embed_length(message: Message) -> int:
    """What Discord counts towards the 6,000 characters of a message's embeds."""
    total = 0
    for embed in message.raw["embeds"]:
        parts = [embed.get("title"), embed.get("description")]
        parts += [(embed.get("footer") or {}).get("text"), (embed.get("author") or {}).get("name")]
        parts += [
            text for item in embed.get("fields", []) for text in (item["name"], item["value"])
        ]
        total += sum(len(part.strip()) for part in parts if part)
    return total


# A name of 255 characters (Runway's limit) that escaping for Discord doubles in length:
# 510 characters once every underscore is escaped.
LONG_NAME = ("_notes" * 43)[:255]
ESCAPED_NAME = LONG_NAME.replace("_", "\\_")


async def test_a_document_name_of_255_characters_is_stored_and_shown_trimmed(
    fake_discord: FakeDiscord, admin: Member, mia: str, runway: Sandbox, database: Path
) -> None:
    result = await fake_discord.invoke(
        "knowledge add",
        member=admin,
        options={"avatar": mia, "name": LONG_NAME},
        attachments=[text_file("Our server opens at nine.\n")],
    )
    learned = await settled(fake_discord, result)

    assert learned.ephemeral
    title = str(learned.embed.title)
    assert len(title) == 256
    assert title == "Mia learned " + ESCAPED_NAME[:243] + "…"
    # Stored whole, at Runway too, and attached: nothing half-done behind the reply.
    [stored] = document_rows(database, admin.guild.id)
    tokens = stored["tokens"]
    assert str(learned.embed.description) == (
        f"About {tokens} tokens. Knowledge used: {tokens} of 50,000 tokens; "
        f"{50_000 - tokens:,} left."
    )
    assert (stored["name"], stored["state"]) == (LONG_NAME, "ATTACHED")
    status, at = await at_runway(runway, DOCUMENTS)
    assert (status, [document["name"] for document in at["data"]]) == (200, [LONG_NAME])


async def test_a_long_file_name_becomes_a_trimmed_title_too(
    fake_discord: FakeDiscord, admin: Member, mia: str, database: Path
) -> None:
    filename = "Server rules & FAQ *v2* " * 12 + ".md"
    result = await fake_discord.invoke(
        "knowledge add",
        member=admin,
        options={"avatar": mia},
        attachments=[text_file("Hi.", filename)],
    )
    learned = await settled(fake_discord, result)
    title = str(learned.embed.title)
    assert title.startswith("Mia learned Server rules & FAQ \\*v2\\* Server rules")
    assert title.endswith("…")
    assert len(title) <= 256
    [stored] = document_rows(database, admin.guild.id)
    assert len(stored["name"]) == 255  # Runway's limit; the bot cut the file's name to it


async def test_nineteen_long_document_names_are_listed_ten_to_a_page(
    fake_discord: FakeDiscord, admin: Member, member: Member, mia: str
) -> None:
    names = [f"{n:02} " + "Chapter of the server handbook " * 8 for n in range(19)]
    assert {len(name) for name in names} == {251}
    for name in names:
        added = await fake_discord.invoke(
            "knowledge add",
            member=admin,
            options={"avatar": mia, "name": name},
            attachments=[text_file(f"Facts {name[:2]}.\n")],
        )
        assert str((await settled(fake_discord, added)).embed.title).startswith("Mia learned")

    listed = await fake_discord.invoke("knowledge list", member=member, options={"avatar": mia})
    first = await listed.final()
    assert first.ephemeral
    assert [str(item.name)[:2] for item in first.embed.fields] == [f"{n:02}" for n in range(10)]
    assert str(first.embed.fields[0].name) == names[0].strip()
    assert first.embed.footer.text == "Page 1 of 2 · 19 documents"
    assert embed_length(first) <= EMBED_TOTAL
    assert first.button("Previous").disabled

    turned = await fake_discord.press_button(first, "Next", member=member)
    assert (await turned.ack()).type is CallbackType.UPDATE_MESSAGE
    second = fake_discord.message(first.id)
    assert second is not None
    assert [str(item.name)[:2] for item in second.embed.fields] == [
        f"{n:02}" for n in range(10, 19)
    ]
    assert second.embed.footer.text == "Page 2 of 2 · 19 documents"
    assert second.button("Next").disabled


THIRTEEN_ISSUES = {
    "error": "Invalid request.",
    "issues": [
        {
            "code": "custom",
            "path": ["referenceImage"],
            "message": f"Issue {n:02}: " + "the image could not be used as a portrait. " * 7,
        }
        for n in range(13)
    ],
}


async def test_a_400_with_many_issues_shows_five_and_counts_the_rest(
    fake_discord: FakeDiscord, admin: Member, runway: Sandbox, database: Path
) -> None:
    assert {len(issue["message"]) for issue in THIRTEEN_ISSUES["issues"]} == {311}
    runway.inject("POST", AVATARS, status=400, body=THIRTEEN_ISSUES)
    submitted = await submit_create(fake_discord, await open_create(fake_discord, admin, "Mia"))

    text = await refusal(fake_discord, submitted)  # no longer stuck on its "⏳" line
    lines = text.split("\n")
    assert lines[0] == "Runway refused the request: Invalid request."
    # Runway's messages arrive cut to 300 characters by the client; five are shown.
    assert [line[:22] for line in lines[1:6]] == ["- referenceImage: Issu"] * 5
    # Each message is 299 characters here: a cut never leaves a space before its "…".
    assert all(line.endswith(" as…") and len(line) == 317 for line in lines[1:6])
    assert lines[1].startswith("- referenceImage: Issue 00: the image could not be used")
    assert lines[6:] == ["… and 8 more"]
    assert avatar_rows(database, admin.guild.id) == []


async def test_an_error_the_reply_cannot_show_comes_as_a_followup(
    fake_discord: FakeDiscord, admin: Member, runway: Sandbox, database: Path
) -> None:
    """Discord refuses to edit the reply (here five 429s in a row, after which discord.py
    gives up): the member still reads the error, ephemerally, in a message of its own."""
    runway.inject("POST", AVATARS, status=400, body=THIRTEEN_ISSUES, latency=1.0)
    submitted = await submit_create(fake_discord, await open_create(fake_discord, admin, "Mia"))
    await text_appears(fake_discord, submitted, "⏳ Sending the avatar to Runway")
    refused = fake_discord.inject_rate_limit("PATCH", ORIGINAL, retry_after=0.05, times=5)

    told = await submitted.followup(timeout=10)
    assert refused.hits == 5
    assert told.ephemeral
    assert told.embed.title == "That did not work"
    assert str(told.embed.description).startswith(
        "Runway refused the request: Invalid request.\n- referenceImage: Issue 00"
    )
    [sent] = fake_discord.calls("POST", "/webhooks/{webhook_id}/{webhook_token}")[-1:]
    assert sent.body["allowed_mentions"] == {"parse": []}
    assert (await submitted.original()).content == "⏳ Sending the avatar to Runway…"
    assert avatar_rows(database, admin.guild.id) == []


def failed_avatar(reason: str) -> dict[str, Any]:
    """What Runway answers for an avatar it could not make."""
    return {
        "id": "0b6c7d1e-9f4a-4c5e-8d2b-3a1f6e7c9d01",
        "name": "Mia",
        "status": "FAILED",
        "createdAt": "2026-08-01T12:00:00.000Z",
        "updatedAt": "2026-08-01T12:00:05.000Z",
        "documentIds": [],
        "failureReason": reason,
    }


async def test_a_long_failure_reason_is_cut_and_the_advice_still_shows(
    fake_discord: FakeDiscord, admin: Member, runway: Sandbox, database: Path
) -> None:
    reason = "The face in the picture is *partly* hidden; " * 111  # 4,884 characters
    runway.inject("POST", AVATARS, status=200, body=failed_avatar(reason))
    reply = await create_avatar(fake_discord, admin, "Mia")

    assert reply.ephemeral
    assert reply.embed.title == "Runway could not make this avatar"
    description = str(reply.embed.description)
    shown, advice = description.split("\n\n")
    assert shown.startswith("Runway's reason: The face in the picture is \\*partly\\* hidden; ")
    assert len(shown) == len("Runway's reason: ") + 1000
    assert shown.endswith("…")
    assert advice == (
        "Nothing was kept; try another image (a clear, front-facing portrait works best)."
    )
    assert avatar_rows(database, admin.guild.id) == []


async def test_an_unknown_voice_is_stopped_by_discord_or_quoted_cut(
    fake_discord: FakeDiscord, admin: Member, runway: Sandbox, database: Path
) -> None:
    synced = fake_discord.command("avatar", admin.guild)
    assert synced is not None
    [create] = [o for o in synced.options if o["name"] == "create"]
    [voice] = [o for o in create["options"] if o["name"] == "voice"]
    assert (voice["min_length"], voice["max_length"]) == (1, 64)
    # Discord's client stops a voice id longer than the option allows before it is sent.
    with pytest.raises(ValueError, match="above the maximum 64"):
        await open_create(fake_discord, admin, "Mia", voice="v" * 4100)

    opened = await open_create(fake_discord, admin, "Mia", voice="Nobody-" + "x" * 57)
    assert (await opened.ack()).type is not CallbackType.MODAL
    assert await refusal(fake_discord, opened) == (
        f"There is no voice called 'Nobody-{'x' * 32}…'. Pick one from the list Discord "
        "shows as you type (e.g. victoria, vincent, clara, drew)."
    )
    assert avatar_rows(database, admin.guild.id) == []
    assert runway.requests("POST", AVATARS) == 0


async def test_every_free_text_option_declares_its_limits(
    fake_discord: FakeDiscord, admin: Member, mia: str
) -> None:
    limits: dict[str, tuple[int | None, int | None]] = {}

    def collect(options: list[Mapping[str, Any]], path: str) -> None:
        for option in options:
            name = f"{path} {option['name']}"
            if int(option["type"]) in (1, 2):
                collect(list(option.get("options") or []), name)
            elif int(option["type"]) == 3 and not option.get("choices"):
                limits[name] = (option.get("min_length"), option.get("max_length"))

    for command in fake_discord.commands(admin.guild):
        collect(command.options, command.name)
    assert limits == {
        "avatar create name": (1, 50),
        "calls lookup avatar": (1, 50),
        "avatar create voice": (1, 64),
        "avatar create image_url": (1, 2048),
        "avatar show avatar": (1, 50),
        "avatar edit avatar": (1, 50),
        "avatar edit voice": (1, 64),
        "avatar delete avatar": (1, 50),
        "avatar say avatar": (1, 50),
        # Past Runway's 5,000, so the member reads by how much a text is too long.
        "avatar say text": (1, 6000),
        "avatar say voice": (1, 64),
        "knowledge add avatar": (1, 50),
        "knowledge add name": (1, 255),
        "knowledge list avatar": (1, 50),
        "knowledge remove avatar": (1, 50),
        "knowledge remove document": (1, 255),
        "quota set amount": (1, 40),
        "quota set timezone": (1, 64),
        "session start avatar": (1, 50),
    }
    assert all(re.fullmatch(r"[a-z_]+", name.split()[-1]) for name in limits)


# The longest names an avatar can have (50 characters), and what each modal title (45)
# keeps of them. The second is cut where a skin tone and two combining marks would be torn
# from the character they are drawn with: each cut steps back to before that character.
LONGEST_NAMES = {
    "ascii": (
        "Sir Bartholomew Featherstonehaugh-Cholmondeley III",
        "New avatar: Sir Bartholomew Featherstonehaug…",
        "Edit Sir Bartholomew Featherstonehaugh-Cholm…",
        "Sir Bartholomew Featherstonehaugh-Chol… says…",
    ),
    "multibyte": (
        "Ōkami 大神の森 Ελένη Nguyễn Thị Ánh🧙🏽 và q\u0301\u0308ng *東京*! 🦊",
        "New avatar: Ōkami 大神の森 Ελένη Nguyễn Thị Ánh…",
        "Edit Ōkami 大神の森 Ελένη Nguyễn Thị Ánh🧙🏽 và…",
        "Ōkami 大神の森 Ελένη Nguyễn Thị Ánh🧙🏽 và… says…",
    ),
}


@pytest.mark.parametrize("kind", LONGEST_NAMES)
async def test_a_name_of_50_characters_is_cut_visibly_in_modal_titles(
    fake_discord: FakeDiscord, admin: Member, kind: str
) -> None:
    name, *titles = LONGEST_NAMES[kind]
    assert len(name) == 50
    opened = await open_create(fake_discord, admin, name)
    created = await opened.modal()
    await settled(fake_discord, await submit_create(fake_discord, opened))
    chosen = await avatar_id(fake_discord, admin, name)
    edit = await fake_discord.invoke("avatar edit", member=admin, options={"avatar": chosen})
    say = await fake_discord.invoke("avatar say", member=admin, options={"avatar": chosen})
    shown = [created.title, (await edit.modal()).title, (await say.modal()).title]
    assert shown == titles
    assert all(len(title) <= 45 for title in shown)

    # Where the limit leaves room, the name is shown whole, escaped where it is markdown.
    listed = await (await fake_discord.invoke("avatar list", member=admin)).final()
    [field] = listed.embed.fields
    escaped = name.replace("*", r"\*")
    assert field.name == f"{escaped} · ✅ ready"
    deleting = await fake_discord.invoke("avatar delete", member=admin, options={"avatar": chosen})
    question = await deleting.original()
    assert [button.label for button in question.buttons] == [f"Delete {name}", "Cancel"]
    await fake_discord.press_button(question, "Cancel", member=admin)
    await text_appears(fake_discord, deleting, "Kept")
