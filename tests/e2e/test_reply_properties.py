"""Whatever a member types and whatever Runway answers, the member gets a readable reply.

Property-based (hypothesis): member inputs of wide Unicode, markdown, mentions, joined
emoji and maximum lengths go through /avatar create, /knowledge add, list and remove
and their autocompletes; Runway's error answers (long messages, many issues, odd paths)
go through /knowledge add and /avatar create. After every example the strict fake
Discord must have accepted every request the bot made, and every reply must read as an
answer: finished, not an incident id, within Discord's limits. The examples are few and
bounded so the module stays within seconds; hypothesis shrinks a failure to its
smallest input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runway.sandbox import Sandbox
from tests.e2e.avatar_steps import (
    avatar_id,
    avatar_rows,
    create_avatar,
    document_rows,
    image,
    settled,
    text_file,
)
from tests.e2e.conftest import runway_settings
from tests.fakediscord import (
    BotProcess,
    CallbackType,
    FakeDiscord,
    Guild,
    InteractionResult,
    Member,
    Message,
)

AVATARS = "/v1/avatars"
DOCUMENTS = "/v1/documents"
INCIDENT = "Something went wrong on the bot's side"
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@dataclass(frozen=True)
class Home:
    """A server with an avatar called Mia, shared by every example."""

    guild: Guild
    admin: Member
    mia: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home(fake_discord: FakeDiscord, bot: BotProcess, runway: Sandbox) -> Home:
    runway.reset()
    runway.config.avatar_processing_seconds = 0.0
    guild = await fake_discord.create_guild("Property Server")
    admin = fake_discord.create_member(guild, "admin", manage_guild=True)
    await create_avatar(fake_discord, admin, "Mia")
    return Home(guild, admin, await avatar_id(fake_discord, admin, "Mia"))


# --- what members type --------------------------------------------------------------------

TRICKY = [
    "@everyone",
    "@here",
    "<@123456789012345678>",
    "<@&123456789012345678>",
    "**",
    "__",
    "_",
    "*",
    "`",
    "```",
    "\\",
    "~~",
    "||",
    "> ",
    "# ",
    "-# ",
    "- ",
    "[link](https://example.org)",
    "\u200b",
    "\u202e",
    "👩\u200d👩\u200d👧",
    "🇫🇷",
    "e\u0301",
    "👍🏽",
    "Ｍｉａ",
    "ﷺ",
    "नमस्ते",
    "\n",
]
PIECE = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40),
)


def typed(max_size: int, *, exclude: str = "") -> st.SearchStrategy[str]:
    """What a member can put in a text option of `max_size` characters (Discord's client
    enforces the option's length; members hit the maximum on purpose)."""
    pieces = PIECE.map(lambda text: "".join(c for c in text if c not in exclude)).filter(bool)
    joined = st.lists(pieces, min_size=1, max_size=30).map("".join)
    return st.one_of(
        joined.map(lambda text: text[:max_size]),
        joined.map(lambda text: (text * (max_size // len(text) + 1))[:max_size]),  # the maximum
    ).filter(bool)


# A file name comes from the member's disk: no path separators or URL delimiters.
FILE_STEMS = typed(100, exclude="/\\?#%\x00").map(lambda stem: stem.replace("\n", " "))
FILE_TEXT = st.one_of(
    typed(2000, exclude="\x00"),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=300),
)


@dataclass(frozen=True)
class MemberInput:
    avatar_name: str
    voice: str
    personality: str
    document_name: str
    file_stem: str
    file_suffix: str
    file_text: str


MEMBER_INPUTS = st.builds(
    MemberInput,
    avatar_name=typed(50),
    voice=st.one_of(st.sampled_from(["mia", "Luna", "LEO "]), typed(64)),
    personality=typed(600),
    document_name=typed(255),
    file_stem=FILE_STEMS,
    file_suffix=st.sampled_from([".txt", ".md", ".TXT", ".pdf"]),
    file_text=FILE_TEXT,
)


# --- what a readable reply is --------------------------------------------------------------


def readable(message: Message) -> str:
    """The reply's text, after checking it reads as a finished answer."""
    assert not message.loading, "the reply is still 'thinking'"
    assert not message.content.startswith("⏳"), f"the reply is stuck on {message.content!r}"
    text = message.text
    assert text.strip(), f"an empty reply: {message.raw}"
    assert INCIDENT not in text, text
    for embed in message.embeds:
        assert embed.title, message.raw
        assert embed.description or embed.fields, message.raw
    return text


async def answer(fake: FakeDiscord, result: InteractionResult) -> str:
    return readable(await settled(fake, result))


async def assert_within_limits(fake: FakeDiscord) -> None:
    fake.assert_honest()  # every request the bot made, as Discord would judge it


# --- properties ------------------------------------------------------------------------------


@EXAMPLES
@given(inputs=MEMBER_INPUTS)
async def test_whatever_a_member_types_the_reply_is_readable(
    fake_discord: FakeDiscord, home: Home, inputs: MemberInput
) -> None:
    # /avatar create, in a server of its own so names and the avatar limit never clash.
    guild = await fake_discord.create_guild("Example Server")
    admin = fake_discord.create_member(guild, "admin", manage_guild=True)
    choices = await fake_discord.autocomplete(
        "avatar create", "voice", inputs.voice, member=admin, options={"name": "x"}
    )
    assert all(len(choice.name) <= 100 and len(str(choice.value)) <= 100 for choice in choices)
    opened = await fake_discord.invoke(
        "avatar create",
        member=admin,
        options={"name": inputs.avatar_name, "voice": inputs.voice},
        attachments=[image()],
    )
    if (await opened.ack()).type is CallbackType.MODAL:
        modal = await opened.modal()
        submitted = await fake_discord.submit_modal(
            modal, {"personality": inputs.personality, "start_script": inputs.personality[:50]}
        )
        await answer(fake_discord, submitted)
    else:
        await answer(fake_discord, opened)

    # /knowledge add, list, remove (and its autocomplete) on Mia.
    home_admin, mia = home.admin, home.mia
    added = await fake_discord.invoke(
        "knowledge add",
        member=home_admin,
        options={"avatar": mia, "name": inputs.document_name},
        attachments=[text_file(inputs.file_text, inputs.file_stem + inputs.file_suffix)],
    )
    await answer(fake_discord, added)
    unnamed = await fake_discord.invoke(
        "knowledge add",
        member=home_admin,
        options={"avatar": mia},
        attachments=[text_file(inputs.file_text, inputs.file_stem + inputs.file_suffix)],
    )
    await answer(fake_discord, unnamed)
    listed = await fake_discord.invoke("knowledge list", member=home_admin, options={"avatar": mia})
    readable(await listed.final())
    documents = await fake_discord.autocomplete(
        "knowledge remove",
        "document",
        inputs.document_name,
        member=home_admin,
        options={"avatar": mia},
    )
    assert all(len(choice.name) <= 100 for choice in documents)
    for value in [inputs.document_name, *(str(choice.value) for choice in documents)]:
        removed = await fake_discord.invoke(
            "knowledge remove", member=home_admin, options={"avatar": mia, "document": value}
        )
        await answer(fake_discord, removed)
    await assert_within_limits(fake_discord)


RUNWAY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=2000)
ISSUE = st.fixed_dictionaries(
    {
        "code": st.sampled_from(["custom", "too_big", "invalid_type"]),
        "path": st.lists(
            st.one_of(st.text(max_size=60), st.integers(min_value=0, max_value=10**6)),
            max_size=6,
        ),
        "message": st.one_of(RUNWAY_TEXT, st.text(max_size=40)),
    }
)


@dataclass(frozen=True)
class RunwayAnswer:
    command: str  # "knowledge add" or "avatar create"
    status: int
    body: dict[str, Any]


RUNWAY_ANSWERS = st.builds(
    RunwayAnswer,
    command=st.sampled_from(["knowledge add", "avatar create"]),
    status=st.sampled_from([400, 400, 422, 409, 429]),
    body=st.fixed_dictionaries(
        {"error": RUNWAY_TEXT, "issues": st.lists(ISSUE, max_size=40)},
        optional={"docUrl": st.just("https://docs.dev.runwayml.com/api")},
    ),
)


LATER = {"retry_after": 120}  # a 429 the bot passes on at once rather than waiting out


@EXAMPLES
@given(answer_=RUNWAY_ANSWERS)
async def test_whatever_runway_answers_the_refusal_is_readable(
    fake_discord: FakeDiscord, home: Home, runway: Sandbox, database: Path, answer_: RunwayAnswer
) -> None:
    admin, mia = home.admin, home.mia
    before = (document_rows(database, home.guild.id), avatar_rows(database, home.guild.id))
    if answer_.command == "knowledge add":
        runway.inject("POST", DOCUMENTS, status=answer_.status, body=answer_.body, **LATER)
        result = await fake_discord.invoke(
            "knowledge add",
            member=admin,
            options={"avatar": mia},
            attachments=[text_file("Our server opens at nine.\n")],
        )
    else:
        runway.inject("POST", AVATARS, status=answer_.status, body=answer_.body, **LATER)
        opened = await fake_discord.invoke(
            "avatar create",
            member=admin,
            options={"name": "Nova", "voice": "mia"},
            attachments=[image()],
        )
        result = await fake_discord.submit_modal(
            await opened.modal(), {"personality": "Kind.", "start_script": ""}
        )
    message = await settled(fake_discord, result)
    text = readable(message)
    assert message.ephemeral
    assert message.embed.title == "That did not work", text
    issues = len(answer_.body["issues"]) if answer_.status in (400, 422) else 0
    if issues > 5:
        assert str(message.embed.description).endswith(f"… and {issues - 5} more"), text
    # Nothing half-done: no document or avatar kept for a refused request.
    assert (document_rows(database, home.guild.id), avatar_rows(database, home.guild.id)) == before
    await assert_within_limits(fake_discord)
