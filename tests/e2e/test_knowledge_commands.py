"""/knowledge end to end: the real bot, the fake Discord, and a production Runway sandbox.

Every file a member can be refused is listed in `BAD_FILES`, and every fault of Runway's
while a file is added in `RUNWAY_FAULTS`, with the exact message the member reads.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.runway.sandbox import Sandbox
from bot.services.knowledge_text import SAVE_AS_UTF8
from bot.services.token_count import estimate_tokens
from tests.e2e.avatar_steps import (
    at_runway,
    document_rows,
    refusal,
    rows,
    settled,
    text_file,
)
from tests.e2e.conftest import runway_settings
from tests.fakediscord import Attachment, FakeDiscord, Guild, Member, Message

BUDGET = 50_000
DOCUMENTS = "/v1/documents"
DOCUMENT = "/v1/documents/{id}"
AVATAR = "/v1/avatars/{id}"
FACTS = "Our server opens at nine.\nThe quiz runs on Fridays.\n"


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest.fixture(autouse=True)
def fresh_runway(runway: Sandbox) -> None:
    runway.reset()
    runway.config.avatar_processing_seconds = 0.0


async def add(
    fake: FakeDiscord, who: Member, avatar: str, file: Attachment, name: str | None = None
) -> Message:
    options = {"avatar": avatar} | ({"name": name} if name else {})
    result = await fake.invoke("knowledge add", member=who, options=options, attachments=[file])
    return await settled(fake, result)


async def add_refused(
    fake: FakeDiscord, who: Member, avatar: str, file: Attachment, name: str | None = None
) -> str:
    options = {"avatar": avatar} | ({"name": name} if name else {})
    result = await fake.invoke("knowledge add", member=who, options=options, attachments=[file])
    return await refusal(fake, result)


async def runway_avatar(runway: Sandbox, database: Path, guild: Guild) -> Any:
    [(runway_id,)] = rows(database, "SELECT runway_id FROM avatars WHERE guild_id = ?", (guild.id,))
    status, body = await at_runway(runway, f"/v1/avatars/{runway_id}")
    assert status == 200, body
    return body


async def runway_documents(runway: Sandbox) -> list[Any]:
    status, body = await at_runway(runway, DOCUMENTS)
    assert status == 200, body
    return list(body["data"])


# --- happy paths ---------------------------------------------------------------------


async def test_add_list_and_remove_documents(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
) -> None:
    facts_tokens = estimate_tokens(FACTS)
    learned = await add(fake_discord, admin, mia, text_file(FACTS))
    assert learned.ephemeral
    assert learned.embed.title == "Mia learned facts.txt"
    assert learned.embed.description == (
        f"About {facts_tokens:,} tokens. Knowledge used: {facts_tokens:,} of 50,000 tokens; "
        f"{BUDGET - facts_tokens:,} left."
    )
    [facts] = document_rows(database, admin.guild.id)
    assert (facts["state"], facts["tokens"]) == ("ATTACHED", facts_tokens)
    assert (await runway_avatar(runway, database, admin.guild))["documentIds"] == [
        facts["runway_id"]
    ]
    status, at_runway_facts = await at_runway(runway, f"/v1/documents/{facts['runway_id']}")
    assert status == 200
    assert at_runway_facts["content"] == FACTS

    # UTF-16 with a byte-order mark (Notepad's "Unicode") is read; a name may be given.
    rules = "# Rules\n\nBe kind. No spoilers. Café at eight.\n"
    await add(
        fake_discord,
        admin,
        mia,
        text_file(rules.encode("utf-16"), "rules.md"),
        name="House rules",
    )
    used = facts_tokens + estimate_tokens(rules)

    listed = await (
        await fake_discord.invoke("knowledge list", member=member, options={"avatar": mia})
    ).final()
    assert listed.ephemeral
    assert listed.embed.title == "Knowledge of Mia"
    assert listed.embed.description == f"{used:,} of 50,000 tokens used; {BUDGET - used:,} left."
    assert [str(item.name) for item in listed.embed.fields] == ["facts.txt", "House rules"]
    assert str(listed.embed.fields[1].value).startswith(
        f"{estimate_tokens(rules):,} tokens · added by <@{admin.id}> <t:"
    )
    shown = await (
        await fake_discord.invoke("avatar show", member=member, options={"avatar": mia})
    ).final()
    assert {str(f.name): str(f.value) for f in shown.embed.fields}["Knowledge"] == (
        f"{used:,} of 50,000 tokens used"
    )

    async def documents(typed: str) -> dict[str, str]:
        choices = await fake_discord.autocomplete(
            "knowledge remove", "document", typed, member=admin, options={"avatar": mia}
        )
        return {choice.name: str(choice.value) for choice in choices}

    assert list(await documents("")) == [
        f"facts.txt ({facts_tokens:,} tokens)",
        f"House rules ({estimate_tokens(rules):,} tokens)",
    ]
    [(label, chosen)] = (await documents("HOUSE")).items()
    assert label.startswith("House rules")

    removed = await fake_discord.invoke(
        "knowledge remove", member=admin, options={"avatar": mia, "document": chosen}
    )
    assert (await settled(fake_discord, removed)).content == (
        "Removed **House rules** from **Mia**."
    )
    assert (await runway_avatar(runway, database, admin.guild))["documentIds"] == [
        facts["runway_id"]
    ]
    assert [doc["name"] for doc in await runway_documents(runway)] == ["facts.txt"]

    # Typing the document's name instead of choosing works too.
    typed = await fake_discord.invoke(
        "knowledge remove", member=admin, options={"avatar": mia, "document": "FACTS.TXT"}
    )
    assert "Removed **facts.txt**" in (await settled(fake_discord, typed)).content
    assert document_rows(database, admin.guild.id) == []
    assert await runway_documents(runway) == []
    assert (await runway_avatar(runway, database, admin.guild))["documentIds"] == []
    history = [
        action
        for (action,) in rows(
            database, "SELECT action FROM audit_log WHERE guild_id = ?", (admin.guild.id,)
        )
    ]
    assert history.count("knowledge.add") == 2
    assert history.count("knowledge.remove") == 2


async def test_two_adds_at_once_both_survive(
    fake_discord: FakeDiscord, admin: Member, mia: str, runway: Sandbox, database: Path
) -> None:
    colleague = fake_discord.create_member(admin.guild, "colleague", manage_guild=True)
    first, second = await asyncio.gather(
        add(fake_discord, admin, mia, text_file("Alpha facts.", "alpha.txt")),
        add(fake_discord, colleague, mia, text_file("Beta facts.", "beta.txt")),
    )
    assert {first.embed.title, second.embed.title} == {
        "Mia learned alpha.txt",
        "Mia learned beta.txt",
    }
    stored = document_rows(database, admin.guild.id)
    assert sorted(doc["name"] for doc in stored) == ["alpha.txt", "beta.txt"]
    assert {doc["state"] for doc in stored} == {"ATTACHED"}
    at = await runway_avatar(runway, database, admin.guild)
    assert sorted(at["documentIds"]) == sorted(doc["runway_id"] for doc in stored)


async def test_new_knowledge_sends_the_avatar_back_to_review_when_approval_is_on(
    fake_discord: FakeDiscord, guild: Guild, admin: Member, member: Member, mia: str
) -> None:
    await (
        await fake_discord.invoke(
            "avatar permissions",
            member=admin,
            options={"approval": True, "review_channel": guild.text_channel},
        )
    ).final()
    learned = await add(fake_discord, admin, mia, text_file(FACTS))
    assert f"waits for an admin's approval in <#{guild.text_channel.id}>" in str(
        learned.embed.description
    )
    [post] = [
        message
        for message in fake_discord.channel_messages(guild.text_channel)
        if "interaction_metadata" not in message.raw
    ]
    assert post.embed.title == "Review: Mia"
    assert {str(f.name): str(f.value) for f in post.embed.fields}["Knowledge added by"] == (
        f"<@{admin.id}>"
    )
    await (await fake_discord.press_button(post, "Approve", member=admin)).ack()
    shown = await (
        await fake_discord.invoke("avatar show", member=member, options={"avatar": mia})
    ).final()
    assert {str(f.name): str(f.value) for f in shown.embed.fields}["Status"] == "✅ ready"


async def test_another_server_cannot_list_or_complete_these_documents(
    fake_discord: FakeDiscord, admin: Member, mia: str
) -> None:
    await add(fake_discord, admin, mia, text_file(FACTS))
    other = await fake_discord.create_guild("Other Server")
    boss = fake_discord.create_member(other, "boss", manage_guild=True)
    choices = await fake_discord.autocomplete(
        "knowledge remove", "document", "", member=boss, options={"avatar": mia}
    )
    assert choices == []
    removing = await fake_discord.invoke(
        "knowledge remove", member=boss, options={"avatar": mia, "document": "facts.txt"}
    )
    assert await refusal(fake_discord, removing) == (
        "This server has no avatar by that name. Pick one from the list as you type."
    )


# --- every bad file --------------------------------------------------------------------


def zip_named_txt() -> Attachment:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return Attachment("notes.txt", buffer.getvalue(), "text/plain")


WORDS_30K = "word" + " word" * 29_999  # 30,000 tokens by the bot's count


@dataclass(frozen=True)
class BadFile:
    """A file a member can give /knowledge add, and exactly what they read."""

    what: str
    file: Attachment
    message: str
    first: Attachment | None = None  # added successfully before


BAD_FILES: list[BadFile] = [
    BadFile(
        "a zip renamed .txt",
        zip_named_txt(),
        "That file is a ZIP archive (or an Office document), not plain text, "
        "whatever its name says.",
    ),
    BadFile(
        "a PDF renamed .txt",
        text_file(b"%PDF-1.7\n1 0 obj\n", "notes.txt"),
        "That file is a PDF document, not plain text, whatever its name says.",
    ),
    BadFile(
        "Latin-1 text",
        text_file("Café crème\n".encode("latin-1"), "menu.txt"),
        'That file is not UTF-8 text: it looks like Windows-1252 (Western European, "ANSI" '
        "in Notepad). " + SAVE_AS_UTF8,
    ),
    BadFile(
        "text with NUL bytes",
        text_file(b"hello\x00world", "notes.txt"),
        "That file contains binary data, not plain text.",
    ),
    BadFile(
        "an empty file",
        text_file(b"", "empty.txt"),
        "That file is empty (or only whitespace); there is nothing to learn.",
    ),
    BadFile(
        "a whitespace-only file",
        text_file(" \n\t\r\n  \n", "blank.md"),
        "That file is empty (or only whitespace); there is nothing to learn.",
    ),
    BadFile(
        "a .pdf file",
        Attachment("notes.pdf", b"Plain words in a file called .pdf", "application/pdf"),
        "Knowledge files must be plain text: a `.txt` or `.md` file.",
    ),
    BadFile(
        "a file over 1 MB",
        text_file("a" * (1024 * 1024 + 1024), "huge.txt"),
        "That file is 1025 KB; knowledge files may be at most 1024 KB. "
        "Split it into smaller files.",
    ),
    BadFile(
        "a file over the token budget",
        text_file(WORDS_30K, "second.txt"),
        "That file is about 30,000 tokens, but Mia has only 20,000 of its 50,000 knowledge "
        "tokens left. Remove a document or upload a shorter file.",
        first=text_file(WORDS_30K, "first.txt"),
    ),
]


@pytest.mark.parametrize("bad", BAD_FILES, ids=[bad.what for bad in BAD_FILES])
async def test_bad_file_gets_a_clear_message_and_stores_nothing(
    fake_discord: FakeDiscord,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
    bad: BadFile,
) -> None:
    assert estimate_tokens(WORDS_30K) == 30_000
    if bad.first is not None:
        await add(fake_discord, admin, mia, bad.first)
    before = document_rows(database, admin.guild.id)
    posts = runway.requests("POST", DOCUMENTS)

    assert await add_refused(fake_discord, admin, mia, bad.file) == bad.message
    assert document_rows(database, admin.guild.id) == before
    assert runway.requests("POST", DOCUMENTS) == posts


# --- Runway's faults ---------------------------------------------------------------------


@dataclass(frozen=True)
class KnowledgeFault:
    what: str
    method: str
    route: str
    inject: dict[str, Any]
    message: str


RUNWAY_FAULTS: list[KnowledgeFault] = [
    KnowledgeFault(
        "400 with issues when attaching",
        "PATCH",
        AVATAR,
        {
            "status": 400,
            "body": {
                "error": "Invalid request.",
                "issues": [
                    {"code": "too_big", "path": ["documentIds"], "message": "Too many documents"}
                ],
            },
        },
        "Runway refused the request: Invalid request.\n- documentIds: Too many documents",
    ),
    KnowledgeFault(
        "401 when creating the document",
        "POST",
        DOCUMENTS,
        {"status": 401},
        "Runway did not accept the bot's API key. An admin should check RUNWAYML_API_SECRET.",
    ),
    KnowledgeFault(
        "404 when attaching (avatar gone at Runway)",
        "PATCH",
        AVATAR,
        {"status": 404},
        "Runway has no such item; it may have been deleted.",
    ),
    KnowledgeFault(
        "409 when attaching",
        "PATCH",
        AVATAR,
        {"status": 409},
        "Runway says: Conflict (injected by the sandbox).",
    ),
    KnowledgeFault(
        "429 when attaching",
        "PATCH",
        AVATAR,
        {"status": 429, "retry_after": 120},
        "Runway's limit is reached: Too Many Requests (injected by the sandbox).",
    ),
    KnowledgeFault(
        "500 when creating the document",
        "POST",
        DOCUMENTS,
        {"status": 500},
        "Runway is unavailable at the moment; try again in a few minutes. Runway's own list "
        "confirms that the file facts.txt was not created, so nothing was kept or charged.",
    ),
    KnowledgeFault(
        "connection dropped after Runway attached it",
        "PATCH",
        AVATAR,
        {"drop": True, "before_handler": False},
        "The connection to Runway broke off; try again in a moment.",
    ),
]


@pytest.mark.parametrize("fault", RUNWAY_FAULTS, ids=[fault.what for fault in RUNWAY_FAULTS])
async def test_runway_fault_while_adding_leaves_nothing_half_stored(
    fake_discord: FakeDiscord,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
    fault: KnowledgeFault,
) -> None:
    runway.inject(fault.method, fault.route, **fault.inject)
    assert await add_refused(fake_discord, admin, mia, text_file(FACTS)) == fault.message

    assert document_rows(database, admin.guild.id) == []
    assert await runway_documents(runway) == []  # a document made for it was deleted again
    assert (await runway_avatar(runway, database, admin.guild))["documentIds"] == []
    listed = await (
        await fake_discord.invoke("knowledge list", member=admin, options={"avatar": mia})
    ).final()
    assert listed.embed.description == "0 of 50,000 tokens used; 50,000 left."


async def test_remove_treats_a_document_runway_no_longer_has_as_gone(
    fake_discord: FakeDiscord, admin: Member, mia: str, runway: Sandbox, database: Path
) -> None:
    await add(fake_discord, admin, mia, text_file(FACTS))
    runway.inject("DELETE", DOCUMENT, status=404)
    removed = await fake_discord.invoke(
        "knowledge remove", member=admin, options={"avatar": mia, "document": "facts.txt"}
    )
    assert (await settled(fake_discord, removed)).content == "Removed **facts.txt** from **Mia**."
    assert document_rows(database, admin.guild.id) == []
    assert (await runway_avatar(runway, database, admin.guild))["documentIds"] == []


async def test_remove_that_runway_fails_can_be_retried(
    fake_discord: FakeDiscord, admin: Member, mia: str, runway: Sandbox, database: Path
) -> None:
    await add(fake_discord, admin, mia, text_file(FACTS))
    runway.inject("DELETE", DOCUMENT, status=502, retry_after=0, times=4)  # every retry too
    options = {"avatar": mia, "document": "facts.txt"}
    failed = await fake_discord.invoke("knowledge remove", member=admin, options=options)
    assert await refusal(fake_discord, failed) == (
        "Runway is unavailable at the moment; try again in a few minutes."
    )
    assert [doc["name"] for doc in document_rows(database, admin.guild.id)] == ["facts.txt"]

    retried = await fake_discord.invoke("knowledge remove", member=admin, options=options)
    assert (await settled(fake_discord, retried)).content == "Removed **facts.txt** from **Mia**."
    assert document_rows(database, admin.guild.id) == []
    assert await runway_documents(runway) == []
