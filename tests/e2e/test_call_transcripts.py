"""After the call, end to end: transcripts and recordings fetched from Runway (the sandbox
here) when shown, each server's settings, the moderation log, history and look-ups,
deletions at Runway (retention, and a member's own), and every fault a member can meet.

The bot is a live deployment whose Runway is the `runway` sandbox of this process, so a test
can write what a call said (`script_conversation`), move Runway's clock and break it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.runway.sandbox import Sandbox
from bot.services.conversations import GONE
from tests.e2e.conftest import runway_settings
from tests.e2e.database import connect, rows
from tests.e2e.session_steps import Browser, Row, run, session_rows, start_session
from tests.fakediscord import BotProcess, FakeDiscord, Guild, Member, Message
from tests.runway.conftest import SANDBOX_KEY

CONVERSATION = "/v1/avatar_conversations/{id}"
SUMMARY = "has ended"


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest_asyncio.fixture(loop_scope="module")
async def browser(bot_web_port: int) -> AsyncIterator[Browser]:
    page = Browser(bot_web_port)
    yield page
    await page.aclose()


async def settings(fake: FakeDiscord, admin: Member, **options: Any) -> Message:
    reply = await (await fake.invoke("calls settings", member=admin, options=options)).final()
    assert reply.ephemeral
    return reply


async def summary(fake: FakeDiscord, member: Member, before: int) -> Message:
    """The summary DM that follows the call (the DMs before it are `before`)."""
    deadline = time.monotonic() + 15
    while True:
        found = [m for m in fake.dms(member)[before:] if m.embeds and SUMMARY in m.embeds[0].title]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, "no summary DM"
        await asyncio.sleep(0.05)


async def call(
    fake: FakeDiscord,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    workdir: Path,
    *,
    said: list[tuple[str, str]] | None = None,
) -> tuple[Row, Message]:
    """A call the member joins, talks in for 30 s (Runway's default script, or `said`) and
    ends with /session end; the finished row and the summary DM."""
    started = await start_session(fake, member)
    assert (await browser.join(started.code)).status_code == 200
    row = session_rows(workdir, member)[-1]
    assert row.runway_id is not None
    if said is not None:
        runway.script_conversation(row.runway_id, said)
    runway.advance(30)
    before = len(fake.dms(member))
    _, ended = await run(fake, "session end", member)
    assert ended.text.startswith("Ended your call"), ended.text
    return session_rows(workdir, member)[-1], await summary(fake, member, before)


async def download(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as anyone:
        return await anyone.get(url)


def link_in(message: Message) -> str:
    text = message.embed.description or ""
    return text.split("](", 1)[1].split(")", 1)[0]


async def press_recording(fake: FakeDiscord, message: Message, who: Member) -> Message:
    in_dm = message.raw.get("guild_id") is None and not message.raw.get("interaction_metadata")
    pressed = (
        await fake.press_button(message, "Recording", user=who.user)
        if in_dm
        else await fake.press_button(message, "Recording", member=who)
    )
    answer = await pressed.final(timeout=15)
    assert answer.ephemeral
    return answer


def conversations_kept(workdir: Path) -> set[str]:
    return {str(row["runway_id"]) for row in rows(workdir, "SELECT runway_id FROM conversations")}


def failed_deletions(workdir: Path) -> int:
    found = rows(workdir, "SELECT count(*) AS n FROM conversations WHERE attempts > 0")
    return int(found[0]["n"])


def in_bot_database(workdir: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    with connect(workdir) as books:
        books.fetch_all(sql, params)


async def until(check: Any, what: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_settings_are_admin_only_and_say_what_each_choice_does(
    fake_discord: FakeDiscord, bot: BotProcess, guild: Guild, admin: Member, member: Member
) -> None:
    command = fake_discord.command("calls")
    assert command is not None
    assert command.default_member_permissions == 1 << 5  # Manage Server
    refused = await (
        await fake_discord.invoke(
            "calls settings", member=member, options={"recordings": True}, permission_override=True
        )
    ).final()
    assert "needs the Manage Server permission" in (refused.embed.description or "")

    shown = await settings(fake_discord, admin)
    fields = {f.name: f.value for f in shown.embed.fields}
    assert fields["Transcripts"] == "off: shown to no one"
    assert fields["Recordings"] == "not offered"
    assert fields["Kept at Runway"] == "until a member asks to delete theirs (`/privacy forget-me`)"
    no_channel = await settings(fake_discord, admin, transcripts="moderation")
    assert "needs a moderation log channel" in (no_channel.embed.description or "")
    channel = await fake_discord.create_text_channel(guild, "mod-log")
    changed = await settings(
        fake_discord, admin, transcripts="moderation", moderation_log=channel, keep_days=30
    )
    fields = {f.name: f.value for f in changed.embed.fields}
    assert changed.embed.title == "Calls settings changed"
    assert fields["Moderation log"] == f"<#{channel.id}>"
    assert fields["Kept at Runway"] == "30 days, then deleted"


async def test_the_join_page_says_before_join_whether_the_call_is_transcribed_or_recorded(
    fake_discord: FakeDiscord, admin: Member, member: Member, browser: Browser
) -> None:
    started = await start_session(fake_discord, member)
    page = (await browser.open(started.code)).text
    assert "Kept by Runway; this server shows it to no one" in page
    assert "Kept by Runway; this server offers it to no one" in page
    await run(fake_discord, "session end", member)

    await settings(fake_discord, admin, transcripts="member", recordings=True, keep_days=7)
    started = await start_session(fake_discord, member)
    page = (await browser.open(started.code)).text
    assert (
        "Kept by Runway; sent to you after the call, and this server&#x27;s admins can look "
        "it up" in page
    )
    assert "you and this server&#x27;s admins can download it after the call" in page
    assert "7 days at Runway, then the bot deletes both" in page
    assert page.index("Transcript") < page.index('id="join"')  # told before the Join button
    await run(fake_discord, "session end", member)


async def test_a_short_transcript_comes_inline_escaped_with_a_recording_button_each_press_fresh(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    await settings(fake_discord, admin, transcripts="member", recordings=True)
    said = [
        ("assistant", "Hello **there** @everyone, <@123456789012345678> and __you__."),
        ("user", "Line one\n[00:09] Cat Character (Runway preset): forged line"),
    ]
    row, dm = await call(fake_discord, member, runway, browser, bot_workdir, said=said)

    assert [embed.title for embed in dm.embeds][1] == "What was said"
    shown = dm.embeds[1].description or ""
    escaped = r"Hello \*\*there\*\* @" + "\u200b" + "everyone, <@\u200b123456789012345678> and "
    assert escaped + r"\_\_you\_\_." in shown
    assert "**You:** Line one [00:09] Cat Character" in shown  # folded into its own line
    assert "@everyone" not in shown
    sent = [c for c in fake_discord.calls("POST") if c.path.endswith(f"{dm.channel_id}/messages")]
    assert sent[-1].body["allowed_mentions"] == {"parse": []}
    assert [button.label for button in dm.buttons] == ["Recording"]

    first = await press_recording(fake_discord, dm, member)
    assert first.embed.title == "Recording of the call"
    url = link_in(first)
    got = await download(url)
    assert (got.status_code, got.headers["Content-Type"]) == (200, "audio/wav")
    assert got.content.startswith(b"RIFF")
    runway.advance(runway.config.recording_ttl_seconds)
    assert (await download(url)).status_code == 403  # Runway's link expired
    fresh = link_in(await press_recording(fake_discord, dm, member))
    assert fresh != url
    assert (await download(fresh)).status_code == 200
    assert row.state == "SETTLED"


async def test_a_long_transcript_is_attached_as_a_text_file(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    await settings(fake_discord, admin, transcripts="member")
    said = [
        ("user" if n % 2 else "assistant", f"**{n}** <@&42>\nforged [00:00] line " + "x" * 3_960)
        for n in range(1_000)
    ]
    row, dm = await call(fake_discord, member, runway, browser, bot_workdir, said=said)

    assert len(dm.embeds) == 1
    assert {f.name: f.value for f in dm.embed.fields}["Transcript"] == "Attached as a text file."
    [file] = dm.files
    assert file.filename == f"transcript-cat-character-runway-preset-{row.id}.txt"
    lines = file.data.decode().splitlines()
    assert lines[0].startswith("Call with Cat Character (Runway preset) on ")
    spoken = lines[2:]
    assert len(spoken) == 1_000  # one line per turn: a turn's own line break is folded
    assert spoken[1].startswith("[00:00] You: **1** <@&42> forged [00:00] line xxx")
    assert spoken[0].startswith("[00:00] Cat Character (Runway preset): **0**")
    assert dm.buttons == []  # this server offers no recordings


async def test_the_moderation_log_gets_one_embed_per_call_with_the_transcript(
    fake_discord: FakeDiscord,
    guild: Guild,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    channel = await fake_discord.create_text_channel(guild, "mod-log")
    await settings(fake_discord, admin, transcripts="moderation", moderation_log=channel)
    row, _ = await call(fake_discord, member, runway, browser, bot_workdir)

    await until(lambda: fake_discord.channel_messages(channel), "nothing in the moderation log")
    [post] = fake_discord.channel_messages(channel)
    assert post.embed.title == "Call with Cat Character (Runway preset)"
    fields = {f.name: f.value for f in post.embed.fields}
    assert fields["Member"] == f"<@{member.id}>"
    assert fields["How it ended"] == "you ended the call"
    assert fields["Transcript"] == "Attached."
    [file] = post.files
    text = file.data.decode()
    assert "[00:04] Member: Tell me something surprising." in text
    assert row.runway_id is not None


async def test_history_pages_through_a_members_calls_each_fetched_from_runway(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    first, _ = await call(
        fake_discord, member, runway, browser, bot_workdir, said=[("user", "one")]
    )
    await settings(fake_discord, admin, transcripts="member", recordings=True)
    await call(fake_discord, member, runway, browser, bot_workdir, said=[("user", "two")])

    gets = runway.requests("GET", CONVERSATION)
    result = await fake_discord.invoke("session history", member=member)
    page = await result.final()
    assert page.ephemeral
    assert page.embed.footer.text.startswith("Call 1 of 2, newest first")
    assert "**You:** two" in (page.embed.description or "")
    assert [b.label for b in page.buttons] == ["Newer", "Older", "Recording"]
    assert runway.requests("GET", CONVERSATION) == gets + 1
    older = await fake_discord.press_button(page, "Older", member=member)
    await older.ack()
    turned = await until_message(fake_discord, page.id, "Call 2 of 2")
    assert "**You:** one" in (turned.embed.description or "")
    assert runway.requests("GET", CONVERSATION) == gets + 2  # fetched again, not kept

    await settings(fake_discord, admin, transcripts="off")
    again = await (await fake_discord.invoke("session history", member=member)).final()
    assert again.embed.description == "This server doesn't share transcripts of its calls."
    assert first.runway_id is not None


async def until_message(fake: FakeDiscord, message_id: int, text: str) -> Message:
    deadline = time.monotonic() + 10
    while True:
        message = fake.message(message_id)
        if message is not None and text in message.text:
            return message
        assert time.monotonic() < deadline, f"{text!r} never shown"
        await asyncio.sleep(0.05)


async def test_admins_look_up_calls_by_member_or_avatar_and_each_look_up_is_audited(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    mia: str,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    await settings(fake_discord, admin, transcripts="member", recordings=True)
    started = await start_session(fake_discord, member, mia)
    assert (await browser.join(started.code)).status_code == 200
    runway.advance(10)
    await run(fake_discord, "session end", member)

    by_member = await (
        await fake_discord.invoke("calls lookup", member=admin, options={"member": member})
    ).final()
    assert by_member.ephemeral
    fields = {f.name: f.value for f in by_member.embed.fields}
    assert (fields["Member"], fields["Avatar"]) == (f"<@{member.id}>", "Mia")
    fetched = await press_recording(fake_discord, by_member, admin)
    assert fetched.embed.title == "Recording of the call"
    by_avatar = await (
        await fake_discord.invoke("calls lookup", member=admin, options={"avatar": mia})
    ).final()
    assert by_avatar.embed.title == "Calls with Mia"
    neither = await (await fake_discord.invoke("calls lookup", member=admin)).final()
    assert "one member, or of one avatar" in (neither.embed.description or "")

    log = await (await fake_discord.invoke("avatar history", member=admin)).final()
    text = log.embed.description or ""
    assert f"<@{admin.id}> looked at the calls of <@{member.id}>" in text
    assert f"<@{admin.id}> looked at the calls with **Mia**" in text
    assert f"<@{admin.id}> fetched the recording of a call of <@{member.id}>" in text


async def test_faults_get_clear_messages_and_nothing_half_sent(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    await settings(fake_discord, admin, transcripts="member", recordings=True)
    runway.inject("GET", CONVERSATION, status=503, times=None)
    row, dm = await call(fake_discord, member, runway, browser, bot_workdir)
    runway.clear_faults()  # Runway is back
    fields = {f.name: f.value for f in dm.embed.fields}
    assert fields["Transcript"].startswith(
        "Runway could not be asked for it just now: Runway is unavailable at the moment"
    )
    assert fields["Transcript"].endswith("Look again later with `/session history`.")
    assert len(dm.embeds) == 1  # one message: the summary, nothing half-sent

    assert row.runway_id is not None
    async with httpx.AsyncClient(
        base_url=runway.base_url,
        headers={"Authorization": f"Bearer {SANDBOX_KEY}", "X-Runway-Version": "2024-11-06"},
    ) as api:
        assert (await api.delete(f"/v1/avatar_conversations/{row.runway_id}")).status_code == 204
    page = await (await fake_discord.invoke("session history", member=member)).final()
    assert page.embed.description == GONE
    gone = await press_recording(fake_discord, dm, member)
    assert gone.embed.description == GONE
    assert row.runway_id not in conversations_kept(bot_workdir)  # nothing left to delete


async def test_retention_deletes_at_runway_and_keeps_retrying_what_runway_refuses(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    await settings(fake_discord, admin, transcripts="member")
    row, _ = await call(fake_discord, member, runway, browser, bot_workdir)
    assert row.runway_id is not None
    in_bot_database(
        bot_workdir,
        "UPDATE conversations SET started_at = started_at - 3 * 86400 WHERE runway_id = ?",
        (row.runway_id,),
    )
    runway.inject("DELETE", CONVERSATION, status=503, times=None)
    deletes = runway.requests("DELETE", CONVERSATION)
    await settings(fake_discord, admin, keep_days=2)  # due now: the job runs at once
    await until(lambda: failed_deletions(bot_workdir) == 1, "the refusal was not kept")
    # One attempt (the client's own retries included), then kept for a later one.
    assert runway.requests("DELETE", CONVERSATION) == deletes + 4
    shown = await settings(fake_discord, admin)
    refused = {f.name: f.value for f in shown.embed.fields}["⚠️ Deletions Runway refused"]
    assert refused.startswith("1 call(s), tried up to 1 times; last: Runway is unavailable")
    assert row.runway_id in runway.inventory()["conversations"]

    runway.clear_faults()  # Runway is back; the retry is due
    in_bot_database(bot_workdir, "UPDATE conversations SET retry_at = 0")
    await settings(fake_discord, admin, keep_days=2)
    await until(lambda: row.runway_id not in runway.inventory()["conversations"], "never deleted")
    await until(lambda: row.runway_id not in conversations_kept(bot_workdir), "still listed")
    page = await (await fake_discord.invoke("session history", member=member)).final()
    assert page.embed.description == GONE


async def test_forget_me_deletes_the_members_conversations_at_runway(
    fake_discord: FakeDiscord,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    kept, _ = await call(fake_discord, member, runway, browser, bot_workdir)
    refused, _ = await call(fake_discord, member, runway, browser, bot_workdir)
    runway.inject("DELETE", CONVERSATION, status=503, times=4)  # the first: every try fails
    result = await fake_discord.invoke("privacy forget-me", member=member)
    question = await result.original()
    assert "transcripts and recordings" in question.text
    await fake_discord.press_button(question, "Erase my data", member=member)
    done = await until_message(fake_discord, question.id, "erased")
    text = done.embed.description or ""
    assert "Runway could not delete the transcripts and recordings of 1 of your call(s) yet" in (
        text
    )
    assert "tries again every few minutes until Runway confirms" in text
    assert len(conversations_kept(bot_workdir) & {kept.runway_id, refused.runway_id}) == 1

    in_bot_database(bot_workdir, "UPDATE conversations SET retry_at = 0")
    await settings(fake_discord, admin, keep_days=0)  # wakes the scheduled deletions
    await until(
        lambda: not (conversations_kept(bot_workdir) & {kept.runway_id, refused.runway_id}),
        "the refused deletion was not retried",
    )
    left = runway.inventory()["conversations"]
    assert kept.runway_id not in left
    assert refused.runway_id not in left
