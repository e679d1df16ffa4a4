"""/avatar end to end: the real bot, the fake Discord, and a production Runway sandbox.

The bot runs as a live deployment whose "Runway" is the `runway` sandbox in this process,
so a test can inject Runway's faults and look at what Runway holds. Avatars are READY at
once (the sandbox's processing time is zero) except where a test follows the progress.
Every refusal a member can meet is listed in `BAD_INPUTS` and `RUNWAY_FAULTS`, with the
exact message they read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.runway import catalog
from bot.runway.sandbox import Sandbox
from cogs.avatar import STYLE_HINTS
from tests.e2e.avatar_steps import (
    NO_MENTIONS,
    PERSONALITY,
    at_runway,
    avatar_choices,
    avatar_id,
    avatar_rows,
    create_avatar,
    document_rows,
    image,
    message_bodies,
    open_create,
    picture,
    png,
    refusal,
    rows,
    settled,
    submit_create,
    text_appears,
    text_file,
)
from tests.e2e.conftest import runway_settings
from tests.fakediscord import (
    Attachment,
    BotProcess,
    CallbackType,
    FakeDiscord,
    Guild,
    InteractionResult,
    Member,
    Message,
)

AVATARS = "/v1/avatars"
AVATAR = "/v1/avatars/{id}"
READY = "✅ ready"
AWAITING = "🕒 awaiting review"


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest.fixture(autouse=True)
def fresh_runway(runway: Sandbox) -> None:
    """An empty Runway account without faults, whose avatars are READY as soon as made."""
    runway.reset()
    runway.config.avatar_processing_seconds = 0.0


# --- steps ---------------------------------------------------------------------------


async def open_edit(
    fake: FakeDiscord, who: Member, avatar: str, *, voice: str | None = None
) -> InteractionResult:
    options = {"avatar": avatar} | ({"voice": voice} if voice else {})
    return await fake.invoke("avatar edit", member=who, options=options)


async def submit_edit(
    fake: FakeDiscord, opened: InteractionResult, **changes: str
) -> InteractionResult:
    """Submit the edit form as prefilled, with `changes` (custom_id -> text) typed over it."""
    modal = await opened.modal()
    values = {item.custom_id: item.value or "" for item in modal.fields} | changes
    return await fake.submit_modal(modal, values)


async def sandbox_avatar(runway: Sandbox, database: Path, guild: Guild, name: str) -> Any:
    [(runway_id,)] = rows(
        database, "SELECT runway_id FROM avatars WHERE guild_id = ? AND name = ?", (guild.id, name)
    )
    status, body = await at_runway(runway, f"/v1/avatars/{runway_id}")
    assert status == 200, body
    return body


def fields_of(message: Message) -> dict[str, str]:
    return {str(item.name): str(item.value) for item in message.embed.fields}


def history_of(database: Path, guild: Guild) -> list[str]:
    return [
        action
        for (action,) in rows(
            database, "SELECT action FROM audit_log WHERE guild_id = ? ORDER BY id", (guild.id,)
        )
    ]


# --- happy paths ---------------------------------------------------------------------


async def test_create_asks_for_a_personality_then_shows_progress_and_the_avatar(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, runway: Sandbox, database: Path
) -> None:
    runway.config.avatar_processing_seconds = 0.3  # long enough to be seen PROCESSING
    opened = await open_create(fake_discord, admin, "Mia", voice="mia", style="tutor")
    modal = await opened.modal()
    assert modal.title == "New avatar: Mia"
    personality, opening = modal.field("personality"), modal.field("start_script")
    assert personality.required
    assert personality.value == STYLE_HINTS["tutor"]
    assert not opening.required

    submitted = await submit_create(fake_discord, opened, opening="Hi! Ask me anything.")
    reply = await settled(fake_discord, submitted)

    edits = [
        call.body.get("content")
        for call in fake_discord.calls("PATCH")
        if submitted.token in call.path
    ]
    assert edits[:3] == [
        "⏳ Checking the image…",
        "⏳ Sending the avatar to Runway…",
        "⏳ Runway is preparing the avatar (this can take a minute)…",
    ]
    assert reply.ephemeral
    assert reply.content == ""
    assert reply.embed.title == "Mia"
    fields = fields_of(reply)
    assert fields["Status"] == READY
    assert fields["Voice"].startswith("Mia — ")  # Runway's own description of the voice
    assert fields["Knowledge"] == f"0 of {catalog.KNOWLEDGE_TOKENS_PER_AVATAR:,} tokens used"
    assert fields["Personality"] == PERSONALITY
    assert fields["Opening line"] == "Hi! Ask me anything."
    assert str(reply.embed.thumbnail.url).startswith("https://")

    [stored] = avatar_rows(database, admin.guild.id)
    assert (stored["status"], stored["review_state"]) == ("READY", "APPROVED")
    at = await sandbox_avatar(runway, database, admin.guild, "Mia")
    assert at["status"] == "READY"
    assert at["voice"]["presetId"] == "mia"
    assert at["startScript"] == "Hi! Ask me anything."
    assert runway.handled("GET", AVATAR) >= 2  # followed from PROCESSING to READY
    assert history_of(database, admin.guild) == ["avatar.create"]


async def test_a_failed_avatar_shows_runways_reason_and_keeps_nothing(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, runway: Sandbox, database: Path
) -> None:
    # The sandbox fails images whose bytes carry a marker: the bot sent the bytes themselves.
    reply = await create_avatar(
        fake_discord, admin, "Faceless", attachment=image(png(fail=True), "portrait.png")
    )

    assert reply.ephemeral
    assert reply.embed.title == "Runway could not make this avatar"
    assert "no usable face was found" in str(reply.embed.description)
    assert "Nothing was kept" in str(reply.embed.description)
    assert avatar_rows(database, admin.guild.id) == []
    assert (await at_runway(runway, AVATARS))[1]["data"] == []
    # The name is free again for another try.
    again = await create_avatar(fake_discord, admin, "Faceless")
    assert fields_of(again)["Status"] == READY


async def test_list_pages_through_this_servers_avatars_only(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member
) -> None:
    names = [f"Guide {letter}" for letter in "ABCDEFG"]
    for name in names:  # one after another: this test is about paging, not a burst
        await create_avatar(fake_discord, admin, name)
    elsewhere = await fake_discord.create_guild("Elsewhere")
    await create_avatar(
        fake_discord, fake_discord.create_member(elsewhere, "boss", manage_guild=True), "Outsider"
    )

    listed = await fake_discord.invoke("avatar list", member=member)
    first = await listed.final()
    assert first.ephemeral
    assert [item.name for item in first.embed.fields] == [f"{n} · {READY}" for n in names[:5]]
    assert first.embed.footer.text == "Page 1 of 2 · 7 in all"
    assert first.button("Previous").disabled
    assert not first.button("Next").disabled

    stranger = await fake_discord.press_button(first, "Next", member=admin)
    assert "belong to the member who ran the command" in (await stranger.final()).text

    turned = await fake_discord.press_button(first, "Next", member=member)
    assert (await turned.ack()).type is CallbackType.UPDATE_MESSAGE
    second = fake_discord.message(first.id)
    assert second is not None
    assert [item.name for item in second.embed.fields] == [f"{n} · {READY}" for n in names[5:]]
    assert second.embed.footer.text == "Page 2 of 2 · 7 in all"
    assert second.button("Next").disabled
    assert not second.button("Previous").disabled
    assert "Outsider" not in first.text + second.text


async def test_list_without_avatars_has_no_buttons(
    fake_discord: FakeDiscord, bot: BotProcess, member: Member
) -> None:
    reply = await (await fake_discord.invoke("avatar list", member=member)).final()
    assert "No avatars yet" in str(reply.embed.description)
    assert reply.buttons == []


async def test_show_describes_an_avatar_to_any_member(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member
) -> None:
    await create_avatar(fake_discord, admin, "Mia", opening="Welcome!")
    chosen = await avatar_id(fake_discord, member, "Mia")

    reply = await (
        await fake_discord.invoke("avatar show", member=member, options={"avatar": chosen})
    ).final()
    assert reply.ephemeral
    assert reply.embed.title == "Mia"
    fields = fields_of(reply)
    assert list(fields) == ["Status", "Voice", "Knowledge", "Personality", "Opening line"]
    assert fields["Status"] == READY
    assert fields["Voice"].startswith("Mia")
    assert fields["Knowledge"] == "0 of 50,000 tokens used"
    assert (fields["Personality"], fields["Opening line"]) == (PERSONALITY, "Welcome!")
    # Typing the name instead of choosing works too, in any case.
    typed = await fake_discord.invoke("avatar show", member=member, options={"avatar": "mIA"})
    assert (await typed.final()).embed.title == "Mia"


async def test_edit_prefills_the_form_and_changes_reach_runway(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, runway: Sandbox, database: Path
) -> None:
    await create_avatar(fake_discord, admin, "Mia", opening="Hello!")
    chosen = await avatar_id(fake_discord, admin, "Mia")

    opened = await open_edit(fake_discord, admin, chosen, voice="leo")
    modal = await opened.modal()
    assert modal.title == "Edit Mia"
    assert {item.custom_id: item.value for item in modal.fields} == {
        "name": "Mia",
        "personality": PERSONALITY,
        "start_script": "Hello!",
    }
    submitted = await submit_edit(
        fake_discord, opened, name="Mila", personality="You are calm and precise.", start_script=""
    )
    reply = await settled(fake_discord, submitted)

    assert reply.ephemeral
    assert reply.embed.title == "Mila"
    assert reply.embed.description == "Saved."
    assert fields_of(reply)["Personality"] == "You are calm and precise."
    assert fields_of(reply)["Voice"].startswith("Leo")
    at = await sandbox_avatar(runway, database, admin.guild, "Mila")
    assert (at["name"], at["personality"], at["startScript"], at["voice"]["presetId"]) == (
        "Mila",
        "You are calm and precise.",
        None,
        "leo",
    )
    [stored] = avatar_rows(database, admin.guild.id)
    assert (stored["name"], stored["start_script"], stored["voice_preset"]) == ("Mila", None, "leo")


async def test_delete_asks_first_cancel_keeps_it_confirm_deletes_it_and_its_documents(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, runway: Sandbox, database: Path
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    chosen = await avatar_id(fake_discord, admin, "Mia")
    added = await fake_discord.invoke(
        "knowledge add",
        member=admin,
        options={"avatar": chosen},
        attachments=[text_file("Our server opens at nine.")],
    )
    await settled(fake_discord, added)
    [document] = document_rows(database, admin.guild.id)

    kept = await fake_discord.invoke("avatar delete", member=admin, options={"avatar": chosen})
    question = await kept.original()
    assert question.ephemeral
    assert "Delete **Mia** and its knowledge documents?" in question.content
    await fake_discord.press_button(question, "Cancel", member=admin)
    assert (await text_appears(fake_discord, kept, "Kept")).content == "Kept. Nothing was deleted."
    assert len(avatar_rows(database, admin.guild.id)) == 1

    deleting = await fake_discord.invoke("avatar delete", member=admin, options={"avatar": chosen})
    question = await deleting.original()
    await fake_discord.press_button(question, "Delete Mia", member=admin)
    done = await text_appears(fake_discord, deleting, "Deleted")
    assert done.content == "Deleted **Mia** and 1 knowledge document(s)."
    assert done.buttons == []

    assert avatar_rows(database, admin.guild.id) == []
    assert document_rows(database, admin.guild.id) == []
    assert (await at_runway(runway, AVATARS))[1]["data"] == []
    assert (await at_runway(runway, f"/v1/documents/{document['runway_id']}"))[0] == 404
    assert await avatar_choices(fake_discord, admin) == {}


async def test_history_records_who_did_what_for_managers_only(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    chosen = await avatar_id(fake_discord, admin, "Mia")
    edited = await submit_edit(
        fake_discord, await open_edit(fake_discord, admin, chosen), name="Mila"
    )
    await settled(fake_discord, edited)

    reply = await (await fake_discord.invoke("avatar history", member=admin)).final()
    lines = str(reply.embed.description).splitlines()
    assert reply.ephemeral
    assert len(lines) == 2
    assert lines[0].endswith(f"<@{admin.id}>: avatar edit **Mila**")
    assert lines[1].endswith(f"<@{admin.id}>: avatar create **Mia**")

    refused = await fake_discord.invoke("avatar history", member=member)
    assert await refusal(fake_discord, refused) == (
        "Reading avatar history needs the Manage Server permission."
    )


# --- who may do what -----------------------------------------------------------------


async def test_members_without_manage_server_are_refused_clearly(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, member: Member, database: Path
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    chosen = await avatar_id(fake_discord, admin, "Mia")
    added = await fake_discord.invoke(
        "knowledge add",
        member=admin,
        options={"avatar": chosen, "name": "Hours"},
        attachments=[text_file("Open at nine.")],
    )
    await settled(fake_discord, added)
    before = (avatar_rows(database, admin.guild.id), document_rows(database, admin.guild.id))

    attempts = {
        "create": fake_discord.invoke(
            "avatar create",
            member=member,
            options={"name": "Mine", "voice": "mia"},
            attachments=[image()],
        ),
        "edit": open_edit(fake_discord, member, chosen),
        "delete": fake_discord.invoke("avatar delete", member=member, options={"avatar": chosen}),
        "knowledge add": fake_discord.invoke(
            "knowledge add",
            member=member,
            options={"avatar": chosen},
            attachments=[text_file("More.")],
        ),
        "knowledge remove": fake_discord.invoke(
            "knowledge remove", member=member, options={"avatar": chosen, "document": "Hours"}
        ),
    }
    messages = {what: await refusal(fake_discord, await step) for what, step in attempts.items()}
    assert messages == {
        "create": "Creating avatars needs the Manage Server permission.",
        "edit": "Editing avatars needs the Manage Server permission.",
        "delete": "Deleting avatars needs the Manage Server permission.",
        "knowledge add": "Adding knowledge needs the Manage Server permission.",
        "knowledge remove": "Removing knowledge needs the Manage Server permission.",
    }
    assert (avatar_rows(database, admin.guild.id), document_rows(database, admin.guild.id)) == (
        before
    )
    # Discord cannot hide a subcommand from them, so the bot refuses it too.
    changing = await fake_discord.invoke(
        "avatar permissions", member=member, options={"approval": False}
    )
    assert await refusal(fake_discord, changing) == (
        "Changing avatar permissions needs the Manage Server permission."
    )


async def test_a_manager_role_lets_a_member_manage_avatars(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member
) -> None:
    makers = await fake_discord.create_role(guild, "Avatar makers")
    maker = fake_discord.create_member(guild, "maker", roles=[makers])
    refused = await open_create(fake_discord, maker, "Mine")
    assert await refusal(fake_discord, refused) == (
        "Creating avatars needs the Manage Server permission."
    )

    settings = await (
        await fake_discord.invoke(
            "avatar permissions", member=admin, options={"manager_role": makers}
        )
    ).final()
    assert fields_of(settings)["May manage avatars"] == f"Manage Server and <@&{makers.id}>"

    reply = await create_avatar(fake_discord, maker, "Mine")
    assert fields_of(reply)["Status"] == READY

    await run(
        fake_discord, "avatar permissions", member=admin, options={"clear_manager_role": True}
    )
    again = await open_create(fake_discord, maker, "Another")
    assert await refusal(fake_discord, again) == (
        "Creating avatars needs the Manage Server permission."
    )


async def test_with_approval_on_a_new_avatar_waits_for_an_admin_in_the_review_channel(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    guild: Guild,
    admin: Member,
    member: Member,
    database: Path,
) -> None:
    channel = guild.text_channel
    settings = await (
        await fake_discord.invoke(
            "avatar permissions",
            member=admin,
            options={"approval": True, "review_channel": channel},
        )
    ).final()
    assert fields_of(settings)["Approval"] == "required"
    assert fields_of(settings)["Review channel"] == f"<#{channel.id}>"

    reply = await create_avatar(fake_discord, admin, "Mia")
    assert fields_of(reply)["Status"] == AWAITING
    assert f"waits for an admin's approval in <#{channel.id}>" in str(reply.embed.description)
    [post] = review_posts(fake_discord, guild)
    assert post.embed.title == "Review: Mia"
    [mia] = avatar_rows(database, guild.id)
    # The custom_ids posts have always had: a post from before a restart or an upgrade still works.
    assert [(button.label, button.custom_id) for button in post.buttons] == [
        ("Approve", f"avatar-review:approve:{mia['id']}"),
        ("Reject", f"avatar-review:reject:{mia['id']}"),
    ]
    assert await session_choices(fake_discord, member) == []  # not usable yet

    refused = await fake_discord.press_button(post, "Approve", member=member)
    assert await refusal(fake_discord, refused) == (
        "Reviewing avatars needs the Manage Server permission."
    )

    approved = await fake_discord.press_button(post, "Approve", member=admin)
    assert (await approved.ack()).type is CallbackType.UPDATE_MESSAGE
    verdict = fake_discord.message(post.id)
    assert verdict is not None
    assert verdict.content == f"Mia was approved by <@{admin.id}>."
    assert verdict.buttons == []
    assert await session_choices(fake_discord, member) == ["Mia"]
    shown = await (
        await fake_discord.invoke("avatar show", member=member, options={"avatar": "Mia"})
    ).final()
    assert fields_of(shown)["Status"] == READY


async def test_a_rejected_avatar_stays_unusable(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member, member: Member
) -> None:
    await run(
        fake_discord,
        "avatar permissions",
        member=admin,
        options={"approval": True, "review_channel": guild.text_channel},
    )
    await create_avatar(fake_discord, admin, "Mia")
    [post] = review_posts(fake_discord, guild)
    await (await fake_discord.press_button(post, "Reject", member=admin)).ack()

    verdict = fake_discord.message(post.id)
    assert verdict is not None
    assert verdict.content == f"Mia was rejected by <@{admin.id}>."
    assert await session_choices(fake_discord, member) == []
    assert list(await avatar_choices(fake_discord, member)) == ["Mia · 🚫 rejected"]


async def test_with_approval_on_a_changed_personality_is_reviewed_again(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member, member: Member
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    await run(
        fake_discord,
        "avatar permissions",
        member=admin,
        options={"approval": True, "review_channel": guild.text_channel},
    )
    chosen = await avatar_id(fake_discord, admin, "Mia")
    edited = await submit_edit(
        fake_discord, await open_edit(fake_discord, admin, chosen), personality="Be grumpy."
    )
    reply = await settled(fake_discord, edited)
    assert fields_of(reply)["Status"] == AWAITING
    assert await session_choices(fake_discord, member) == []

    [post] = review_posts(fake_discord, guild)
    assert post.embed.title == "Review: Mia"
    await (await fake_discord.press_button(post, "Approve", member=admin)).ack()
    assert await session_choices(fake_discord, member) == ["Mia"]


async def run(fake: FakeDiscord, command: str, **invocation: Any) -> Message:
    """Run a command and wait for its complete reply."""
    return await (await fake.invoke(command, **invocation)).final()


def review_posts(fake: FakeDiscord, guild: Guild) -> list[Message]:
    """What the bot posted in the review channel (not replies to commands run there)."""
    return [
        message
        for message in fake.channel_messages(guild.text_channel)
        if "interaction_metadata" not in message.raw
    ]


async def session_choices(fake: FakeDiscord, who: Member) -> list[str]:
    """The server's avatars /session start offers (usable ones only), without presets."""
    choices = await fake.autocomplete("session start", "avatar", "", member=who)
    return [choice.name for choice in choices if not str(choice.value).startswith("preset:")]


# --- autocomplete and guild isolation -------------------------------------------------


async def test_voice_autocomplete_offers_the_30_presets_25_at_a_time(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    async def voices(typed: str) -> list[str]:
        choices = await fake_discord.autocomplete(
            "avatar create", "voice", typed, member=admin, options={"name": "Mia"}
        )
        return [str(choice.value) for choice in choices]

    everything = await voices("")
    assert len(everything) == 25
    assert set(everything) <= set(catalog.VOICE_PRESETS)
    assert await voices("ma") == ["marcus", "max", "maya", "emma", "roman"]  # prefix first
    assert await voices("zzz") == []
    offered = await asyncio.gather(*(voices(preset) for preset in catalog.VOICE_PRESETS))
    assert [found[0] for found in offered] == list(catalog.VOICE_PRESETS)
    labels = await fake_discord.autocomplete(
        "avatar create", "voice", "vic", member=admin, options={"name": "Mia"}
    )
    assert [choice.name for choice in labels] == ["Victoria (Runway preset voice)"]


async def test_another_server_never_sees_or_uses_this_servers_avatar(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member, database: Path
) -> None:
    await create_avatar(fake_discord, admin, "Mia")
    ours = await avatar_id(fake_discord, admin, "Mia")
    other = await fake_discord.create_guild("Other Server")
    boss = fake_discord.create_member(other, "boss", manage_guild=True)

    assert await avatar_choices(fake_discord, boss) == {}
    assert await avatar_choices(fake_discord, boss, "Mia") == {}
    assert await session_choices(fake_discord, boss) == []
    listed = await (await fake_discord.invoke("avatar list", member=boss)).final()
    assert "Mia" not in listed.text

    not_here = "This server has no avatar by that name. Pick one from the list as you type."
    for typed in (ours, "Mia"):
        attempts = [
            fake_discord.invoke("avatar show", member=boss, options={"avatar": typed}),
            fake_discord.invoke("avatar edit", member=boss, options={"avatar": typed}),
            fake_discord.invoke("avatar delete", member=boss, options={"avatar": typed}),
            fake_discord.invoke(
                "knowledge add",
                member=boss,
                options={"avatar": typed},
                attachments=[text_file("Secrets.")],
            ),
            fake_discord.invoke("knowledge list", member=boss, options={"avatar": typed}),
            fake_discord.invoke("session start", member=boss, options={"avatar": typed}),
        ]
        for step in attempts:
            assert await refusal(fake_discord, await step) == not_here

    assert len(avatar_rows(database, admin.guild.id)) == 1
    assert document_rows(database, admin.guild.id) == []
    # Names are unique per server only: the other server may have its own Mia.
    theirs = await create_avatar(fake_discord, boss, "Mia")
    assert fields_of(theirs)["Status"] == READY
    assert await avatar_id(fake_discord, boss, "Mia") != ours


# --- mentions --------------------------------------------------------------------------


async def test_echoed_text_never_pings(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member
) -> None:
    start = len(fake_discord.calls())
    await run(
        fake_discord,
        "avatar permissions",
        member=admin,
        options={"approval": True, "review_channel": guild.text_channel},
    )
    reply = await create_avatar(
        fake_discord, admin, "@everyone", personality="Greet @here and <@&123456789012345678>."
    )
    chosen = await avatar_id(fake_discord, admin, "@everyone")
    await (await fake_discord.invoke("avatar list", member=admin)).final()
    [post] = review_posts(fake_discord, guild)
    await (await fake_discord.press_button(post, "Approve", member=admin)).ack()
    deleting = await fake_discord.invoke("avatar delete", member=admin, options={"avatar": chosen})
    await fake_discord.press_button(await deleting.original(), "Delete @everyone", member=admin)
    await text_appears(fake_discord, deleting, "Deleted")

    bodies = message_bodies(fake_discord.calls()[start:])
    assert len(bodies) >= 8
    assert all(body.get("allowed_mentions") == NO_MENTIONS for body in bodies), bodies
    assert reply.embed.title == "@\u200beveryone"
    for message in (fake_discord.message(post.id), reply):
        assert message is not None
        for piece in ("@everyone", "@here", "<@&123456789012345678>"):
            assert piece not in message.text, message.text


async def test_markdown_in_a_name_is_shown_as_typed(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    reply = await create_avatar(fake_discord, admin, "*Star* `Bot`", personality="Use __bold__.")
    assert reply.embed.title == "\\*Star\\* \\`Bot\\`"
    assert fields_of(reply)["Personality"] == "Use \\_\\_bold\\_\\_."
    listed = await run(fake_discord, "avatar list", member=admin)
    assert [item.name for item in listed.embed.fields] == [f"\\*Star\\* \\`Bot\\` · {READY}"]


# --- every bad input -------------------------------------------------------------------


BEFORE_FORM = "at once, before the form"
AFTER_FORM = "after the form is sent"


@dataclass(frozen=True)
class BadInput:
    """Something wrong a member can give /avatar create, and exactly what they read."""

    what: str
    message: str
    when: str
    name: str = "Mia"
    voice: str = "mia"
    attachment: Callable[[], Attachment] | None = None
    image_url: str | None = None
    no_image: bool = False
    personality: str = PERSONALITY
    existing: str | None = None


def thirty_megabytes() -> Attachment:
    data = picture("JPEG")
    return Attachment("holiday.jpg", data + b"\0" * (30 * 1024 * 1024 - len(data)), "image/jpeg")


NOT_AN_IMAGE = "not a JPEG, PNG or WebP image. Use a JPEG, PNG or WebP image."
PRIVATE_LINK = "The bot could not use that link: it points to a private or local network address."

BAD_INPUTS: list[BadInput] = [
    BadInput(
        "a GIF",
        f"That file is a GIF, {NOT_AN_IMAGE}",
        AFTER_FORM,
        attachment=lambda: Attachment("smile.gif", picture("GIF"), "image/gif"),
    ),
    BadInput(
        "a PDF renamed .png",
        f"That file is a PDF document, {NOT_AN_IMAGE}",
        AFTER_FORM,
        attachment=lambda: Attachment("face.png", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n", "image/png"),
    ),
    BadInput(
        "a 30 MB photo",
        "That file is 30.0 MB; the limit is 20 MB. Export a smaller copy.",
        BEFORE_FORM,
        attachment=thirty_megabytes,
    ),
    BadInput(
        "a 1x1 image",
        "The image is only 1×1 pixels; it needs at least 128 on each side "
        "(a clear portrait of 512 pixels or more works best).",
        AFTER_FORM,
        attachment=lambda: Attachment("dot.png", picture("PNG", (1, 1)), "image/png"),
    ),
    BadInput(
        "both an image and image_url",
        "Give the avatar's image either as an attachment or as an https:// link, not both.",
        BEFORE_FORM,
        image_url="https://example.org/face.png",
        attachment=image,
    ),
    BadInput(
        "neither an image nor image_url",
        "The avatar needs an image: attach one, or give an https:// link.",
        BEFORE_FORM,
        no_image=True,
    ),
    BadInput(
        "an http:// image_url",
        "The bot could not use that link: only https:// links are accepted.",
        BEFORE_FORM,
        image_url="http://example.org/face.png",
    ),
    BadInput(
        "image_url to 127.0.0.1", PRIVATE_LINK, AFTER_FORM, image_url="https://127.0.0.1/face.png"
    ),
    BadInput(
        "image_url to 169.254.169.254 (cloud metadata)",
        PRIVATE_LINK,
        AFTER_FORM,
        image_url="https://169.254.169.254/latest/meta-data/",
    ),
    BadInput(
        "image_url to localhost", PRIVATE_LINK, AFTER_FORM, image_url="https://localhost/face.png"
    ),
    BadInput(
        "image_url to [::1]", PRIVATE_LINK, AFTER_FORM, image_url="https://[::1]:8443/face.png"
    ),
    BadInput(
        "a name of only zero-width characters",
        "An avatar needs a name with at least one visible character.",
        BEFORE_FORM,
        name="\u200b\u200c\u200d\u2060\ufeff",
    ),
    BadInput(
        "a taken name in other letter case",
        "This server already has an avatar called MIA.",
        BEFORE_FORM,
        name="MIA",
        existing="Mia",
    ),
    BadInput(
        "a taken name with a zero-width space inside",
        "This server already has an avatar called Mia.",
        BEFORE_FORM,
        name="M\u200bia",
        existing="Mia",
    ),
    BadInput(
        "a taken name in full-width letters",
        "This server already has an avatar called Ｍｉａ.",
        BEFORE_FORM,
        name="Ｍｉａ",
        existing="Mia",
    ),
    BadInput(
        "an unknown voice",
        "There is no voice called 'Nobody'. Pick one from the list Discord shows as you type "
        "(e.g. victoria, vincent, clara, drew).",
        BEFORE_FORM,
        voice="Nobody",
    ),
    BadInput(
        "a personality of only spaces and line breaks",
        "The personality cannot be empty: describe how the avatar behaves.",
        AFTER_FORM,
        personality="  \n\t \u200b ",
    ),
]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[bad.what for bad in BAD_INPUTS])
async def test_bad_input_gets_a_clear_message_and_stores_nothing(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    admin: Member,
    runway: Sandbox,
    database: Path,
    bad: BadInput,
) -> None:
    if bad.existing:
        await create_avatar(fake_discord, admin, bad.existing)
    before = avatar_rows(database, admin.guild.id)
    posts_before = runway.requests("POST", AVATARS)

    opened = await open_create(
        fake_discord,
        admin,
        bad.name,
        voice=bad.voice,
        attachment=bad.attachment() if bad.attachment else None,
        image_url=bad.image_url,
        no_image=bad.no_image,
    )
    shown_form = (await opened.ack()).type is CallbackType.MODAL
    assert (BEFORE_FORM if not shown_form else AFTER_FORM) == bad.when
    answer = (
        await submit_create(fake_discord, opened, personality=bad.personality)
        if shown_form
        else opened
    )
    assert await refusal(fake_discord, answer) == bad.message
    assert avatar_rows(database, admin.guild.id) == before
    assert runway.requests("POST", AVATARS) == posts_before


async def test_an_empty_personality_cannot_even_be_submitted(
    fake_discord: FakeDiscord, bot: BotProcess, admin: Member
) -> None:
    """Discord's client enforces the form's required field; the bot never hears of it."""
    opened = await open_create(fake_discord, admin, "Mia")
    with pytest.raises(ValueError, match="'personality' is required"):
        await submit_create(fake_discord, opened, personality="")


# --- Runway's faults -------------------------------------------------------------------


@dataclass(frozen=True)
class RunwayFault:
    """A fault of Runway's during a command, and exactly what the member reads."""

    what: str
    command: str  # "create" or "edit"
    method: str
    route: str
    message: str
    inject: dict[str, Any]
    requests: int = 1


ISSUES_400 = {
    "error": "Invalid request.",
    "issues": [
        {
            "code": "custom",
            "path": ["referenceImage"],
            "message": "No face was found in the image",
        }
    ],
    "docUrl": "https://docs.dev.runwayml.com/api",
}

RUNWAY_FAULTS: list[RunwayFault] = [
    RunwayFault(
        "400 with issues",
        "create",
        "POST",
        AVATARS,
        "Runway refused the request: Invalid request.\n"
        "- referenceImage: No face was found in the image",
        {"status": 400, "body": ISSUES_400},
    ),
    RunwayFault(
        "401 (API key refused)",
        "create",
        "POST",
        AVATARS,
        "Runway did not accept the bot's API key. An admin should check RUNWAYML_API_SECRET.",
        {"status": 401},
    ),
    RunwayFault(
        "404 (avatar gone at Runway)",
        "edit",
        "PATCH",
        AVATAR,
        "Runway has no such item; it may have been deleted.",
        {"status": 404},
    ),
    RunwayFault(
        "409 (avatar busy)",
        "edit",
        "PATCH",
        AVATAR,
        "Runway says: Conflict (injected by the sandbox).",
        {"status": 409},
    ),
    RunwayFault(
        "429 with a long Retry-After",
        "create",
        "POST",
        AVATARS,
        "Runway's limit is reached: Too Many Requests (injected by the sandbox).",
        {"status": 429, "retry_after": 120},
    ),
    RunwayFault(
        "500",
        "create",
        "POST",
        AVATARS,
        "Runway is unavailable at the moment; try again in a few minutes. Runway's own list "
        "confirms that the avatar Mia was not created, so nothing was kept or charged.",
        {"status": 500},
    ),
    RunwayFault(
        "503 on every retry",
        "create",
        "POST",
        AVATARS,
        "Runway is unavailable at the moment; try again in a few minutes.",
        {"status": 503, "retry_after": 0, "times": 4},
        requests=4,
    ),
    RunwayFault(
        "connection dropped (create)",
        "create",
        "POST",
        AVATARS,
        "The connection to Runway broke off; try again in a moment. Runway's own list "
        "confirms that the avatar Mia was not created, so nothing was kept or charged.",
        {"drop": True},
    ),
    RunwayFault(
        "connection dropped (edit)",
        "edit",
        "PATCH",
        AVATAR,
        "The connection to Runway broke off; try again in a moment.",
        {"drop": True},
    ),
]


@pytest.mark.parametrize("fault", RUNWAY_FAULTS, ids=[fault.what for fault in RUNWAY_FAULTS])
async def test_runway_fault_gets_a_clear_message_and_stores_nothing_wrongly(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    admin: Member,
    runway: Sandbox,
    database: Path,
    fault: RunwayFault,
) -> None:
    if fault.command == "create":
        runway.inject(fault.method, fault.route, **fault.inject)
        submitted = await submit_create(fake_discord, await open_create(fake_discord, admin, "Mia"))
        assert await refusal(fake_discord, submitted) == fault.message
        assert avatar_rows(database, admin.guild.id) == []
        assert history_of(database, admin.guild) == []
    else:
        await create_avatar(fake_discord, admin, "Mia")
        before = avatar_rows(database, admin.guild.id)
        chosen = await avatar_id(fake_discord, admin, "Mia")
        runway.inject(fault.method, fault.route, **fault.inject)
        submitted = await submit_edit(
            fake_discord,
            await open_edit(fake_discord, admin, chosen),
            name="Mila",
            personality="Something else.",
        )
        assert await refusal(fake_discord, submitted) == fault.message
        assert avatar_rows(database, admin.guild.id) == before
        assert history_of(database, admin.guild) == ["avatar.create"]
        at = await sandbox_avatar(runway, database, admin.guild, "Mia")
        assert (at["name"], at["personality"]) == ("Mia", PERSONALITY)
    assert runway.requests(fault.method, fault.route) == fault.requests
