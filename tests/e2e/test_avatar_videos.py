"""`/avatar say` end to end: the real bot, the fake Discord and the test's Runway sandbox.

A text and a recording each end as a real MP4 posted in the channel (decoded here, of the
expected length); a video larger than the server's uploads becomes a link button; Cancel
stops the task at Runway; approval mode holds a request in the review channel; the video
limits refuse and settle; and every bad input gets its message with nothing spent.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.runway.sandbox import Sandbox
from tests.e2e.avatar_steps import at_runway
from tests.e2e.database import execute, rows
from tests.e2e.video_steps import (
    MIB,
    TASK_ROUTE,
    VIDEOS_ROUTE,
    ended,
    posted,
    reply_until,
    say,
    video_row,
    video_settings,
    videos,
)
from tests.fakediscord import FakeDiscord, Guild, Member
from tests.support.media import tone, video_facts

WELCOME = "Welcome to the server, friends, and thank you for coming along today!"  # 12 words


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int, bot_workdir: Path) -> Mapping[str, str]:
    return video_settings(runway, bot_web_port, bot_workdir)


@pytest.fixture(autouse=True)
def _fresh_runway(runway: Sandbox) -> None:
    runway.config.task_render_seconds = 1.0
    runway.config.video_padding_bytes = 0


async def _role_member(fake: FakeDiscord, guild: Guild, admin: Member, name: str) -> Member:
    role = await fake.create_role(guild, "Announcers")
    member = fake.create_member(guild, name, roles=[role])
    result = await fake.invoke("avatar permissions", member=admin, options={"video_role": role})
    assert "Announcers" in (await result.original()).text or (await result.original()).embeds
    return member


async def test_a_text_becomes_a_real_video_posted_with_its_caption(
    fake_discord: FakeDiscord, guild: Guild, admin: Member, mia: str, database: Path
) -> None:
    asked = await say(fake_discord, admin, mia, text=f"{WELCOME} <@{admin.user.id}> **now**")
    progress = await reply_until(asked, lambda m: "Mia" in m.text)
    assert progress.ephemeral
    done = await reply_until(asked, lambda m: m.text.startswith("✅"))
    assert done.text == f"✅ Your video of **Mia** is posted in <#{guild.text_channel.id}>."
    (message,) = await posted(fake_discord, guild.text_channel)
    (sent,) = [
        call.body
        for call in fake_discord.calls("POST", "/channels/{channel_id}/messages")
        if call.body and call.body.get("nonce") == f"avatar-video:{message_id(database, guild)}"
    ]
    assert sent["allowed_mentions"] == {"parse": []}
    assert message.content.startswith(f"🗣️ **Mia** says, for <@{admin.user.id}>:\n> Welcome")
    assert "\\*\\*now\\*\\*" in message.content  # the member's markdown shown as typed
    (file,) = message.files
    assert file.filename.endswith(".mp4")
    facts = video_facts(file.data)
    assert facts.codecs == ("h264", "aac")
    assert facts.seconds == pytest.approx(13 / 2.5, abs=0.3)  # 13 words, as the sandbox speaks
    row = await video_row(database, guild.id, ended)
    assert (row["state"], row["end_reason"], row["used_seconds"]) == ("SETTLED", "posted", 6)
    assert row["message_id"] == message.id
    audit = [r for r in _audit(database, guild.id) if r[0] == "video.request" and WELCOME in r[1]]
    assert audit, "the request is in the audit log with its text"


async def test_a_voice_message_from_a_member_with_the_role(
    fake_discord: FakeDiscord, guild: Guild, admin: Member, mia: str, database: Path
) -> None:
    member = await _role_member(fake_discord, guild, admin, "announcer")
    asked = await say(fake_discord, member, mia, audio=tone(2.0, "ogg"))
    await reply_until(asked, lambda m: m.text.startswith("✅"))
    (message,) = await posted(fake_discord, guild.text_channel)
    assert message.content == f"🗣️ **Mia** speaks a 2 s recording from <@{member.user.id}>."
    assert video_facts(message.files[0].data).seconds == pytest.approx(2.0, abs=0.2)
    row = videos(database, guild.id)[-1]
    assert (row["audio_seconds"], row["estimate_seconds"], row["used_seconds"]) == (2, 3, 2)
    assert row["text"] is None


async def test_a_video_over_the_upload_limit_is_a_button_with_a_fresh_link(
    fake_discord: FakeDiscord,
    guild: Guild,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
) -> None:
    runway.config.video_padding_bytes = 11 * MIB
    asked = await say(fake_discord, admin, mia, text=WELCOME)
    done = await reply_until(asked, lambda m: m.text.startswith("✅"))
    assert "as a link: it is larger than this server's uploads" in done.text
    (message,) = await posted(fake_discord, guild.text_channel)
    assert not message.files
    assert "larger than this server lets me upload" in message.content
    [row] = videos(database, guild.id)
    link_id = f"avatar-video:link:{row['id']}"
    assert message.buttons[0].custom_id == link_id  # as posts have always had it
    pressed = await fake_discord.press_button(message, link_id, member=admin)
    link = await reply_until(pressed, lambda m: bool(m.buttons))
    assert link.ephemeral
    (button,) = link.buttons
    assert (button.url or "").startswith("https://127.0.0.1:")
    pressed_again = await fake_discord.press_button(message, link_id, member=admin)
    again = await reply_until(pressed_again, lambda m: bool(m.buttons))
    assert again.buttons[0].url != button.url  # fresh on every press

    # A signed link longer than Discord takes on a button (512) comes as an embed's link.
    _, task = await at_runway(runway, f"/v1/tasks/{row['runway_id']}")
    signed = f"{task['output'][0]}?_jwt={'a' * 600}"
    runway.inject("GET", TASK_ROUTE, status=200, body=task | {"output": [signed]})
    pressed_late = await fake_discord.press_button(message, link_id, member=admin)
    late = await reply_until(pressed_late, lambda m: bool(m.embeds))
    assert late.ephemeral
    assert late.buttons == []
    assert (late.embed.description or "").startswith(f"[Open the video]({signed})")


async def test_cancel_stops_the_task_at_runway_and_costs_nothing(
    fake_discord: FakeDiscord,
    guild: Guild,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
) -> None:
    runway.config.task_render_seconds = 600
    asked = await say(fake_discord, admin, mia, text=WELCOME)
    rendering = await reply_until(asked, lambda m: bool(m.buttons))
    cancel = f"avatar-video:cancel:{videos(database, guild.id)[-1]['id']}"
    assert rendering.buttons[0].custom_id == cancel  # as replies have always had it
    pressed = await fake_discord.press_button(rendering, cancel, member=admin)
    await pressed.ack()
    cancelled = await reply_until(asked, lambda m: m.text.startswith("🛑"))
    assert cancelled.text == "🛑 Your video of **Mia** was cancelled. Nothing was charged."
    row = await video_row(database, guild.id, ended)
    assert (row["state"], row["end_reason"], row["cost_credits"]) == ("RELEASED", "cancelled", 0)
    assert runway.inventory()["tasks"][row["runway_id"]] == "CANCELLED"
    assert not await posted(fake_discord, guild.text_channel, patience=0.5)


async def test_a_task_that_never_finishes_is_cancelled_after_the_bound(
    fake_discord: FakeDiscord,
    guild: Guild,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
) -> None:
    runway.config.task_render_seconds = 600
    asked = await say(fake_discord, admin, mia, text=WELCOME)
    timed_out = await reply_until(asked, lambda m: m.text.startswith("⌛"), patience=20)
    assert "so the bot cancelled it. Nothing was charged." in timed_out.text
    row = await video_row(database, guild.id, ended)
    assert (row["end_reason"], row["used_seconds"]) == ("timed_out", None)
    assert runway.inventory()["tasks"][row["runway_id"]] == "CANCELLED"


async def test_approval_mode_waits_in_the_review_channel_before_anything_is_spent(
    fake_discord: FakeDiscord,
    guild: Guild,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
) -> None:
    review = await fake_discord.create_text_channel(guild, "reviews")
    await (
        await fake_discord.invoke(
            "avatar permissions",
            member=admin,
            options={"approval": True, "review_channel": review},
        )
    ).original()
    member = await _role_member(fake_discord, guild, admin, "asker")
    submitted = runway.requests("POST", VIDEOS_ROUTE)
    asked = await say(fake_discord, member, mia, text=WELCOME)
    waiting = await reply_until(asked, lambda m: m.text.startswith("🕒"))
    assert f"waits for an admin's approval in <#{review.id}>" in waiting.text
    assert runway.requests("POST", VIDEOS_ROUTE) == submitted
    (post,) = [m for m in fake_discord.channel_messages(review) if m.embeds]
    assert post.embed.title == "Video request: Mia"
    fields = {f.name: f.value for f in post.embed.fields}
    assert fields["Asked by"] == f"<@{member.user.id}>"
    assert WELCOME in fields["Text"]
    asked_for = videos(database, guild.id)[-1]["id"]
    approve, reject = f"video-review:approve:{asked_for}", f"video-review:reject:{asked_for}"
    assert [b.custom_id for b in post.buttons] == [approve, reject]  # as posts have always had
    await (await fake_discord.press_button(post, approve, member=admin)).ack()
    (video,) = await posted(fake_discord, guild.text_channel)
    assert video.files
    assert videos(database, guild.id)[-1]["reviewed_by"] == admin.user.id

    other = await _second_asker(fake_discord, guild, member)
    asked = await say(fake_discord, other, mia, text="Second thoughts.")
    await reply_until(asked, lambda m: m.text.startswith("🕒"))
    post = [m for m in fake_discord.channel_messages(review) if m.embeds][-1]
    reject = f"video-review:reject:{videos(database, guild.id)[-1]['id']}"
    await (await fake_discord.press_button(post, reject, member=admin)).ack()
    dm = await fake_discord.wait_for_dm(other)
    assert "did not approve your video of **Mia**" in (dm.embed.description or "")
    row = await video_row(database, guild.id, ended)
    assert (row["end_reason"], row["cost_credits"]) == ("rejected", 0)
    assert runway.requests("POST", VIDEOS_ROUTE) == submitted + 1


async def test_video_limits_refuse_then_settle_to_the_real_length(
    fake_discord: FakeDiscord, guild: Guild, admin: Member, mia: str, database: Path
) -> None:
    await (
        await fake_discord.invoke(
            "quota set",
            member=admin,
            options={"limit": "video_member_day_seconds", "amount": "10s"},
        )
    ).original()
    refused = await (await say(fake_discord, admin, mia, text=WELCOME + " " + WELCOME)).original()
    assert (
        "This video needs about 14 s, but only 10 s of your 10 s of video for today are left"
        in refused.embed.description
    )
    asked = await say(fake_discord, admin, mia, text="Hello there, friends.")
    await reply_until(asked, lambda m: m.text.startswith("✅"))
    row = videos(database, guild.id)[-1]
    assert (row["estimate_seconds"], row["used_seconds"]) == (4, 2)  # 3 words: 1.2 s of video
    again = await (await say(fake_discord, admin, mia, text="Hello again.")).original()
    assert "between a member's videos; you can ask for another in" in again.embed.description
    shown = await (await fake_discord.invoke("quota show", member=admin)).original()
    fields = {f.name: f.value for f in shown.embeds[0].fields}
    assert fields["Video time today"].startswith("**8 s** left of 10 s")


def _thirty_minutes_of_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(1)
        sound.setframerate(2000)
        sound.writeframes(bytes([128]) * 2000 * 1800)
    return out.getvalue()


async def test_every_bad_input_is_told_and_nothing_is_spent(
    fake_discord: FakeDiscord,
    guild: Guild,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
) -> None:
    submitted = runway.requests("POST", VIDEOS_ROUTE)
    member = fake_discord.create_member(guild, "nobody")
    cases = [
        (admin, {"text": "   "}, "The text is empty: write what the avatar should say."),
        (
            admin,
            {"text": "x" * 5_001},
            "The text is 5,001 characters; Runway speaks at most 5,000.",
        ),
        (admin, {"text": f"<@{admin.user.id}> **__~~~~__** @everyone"}, "nothing to say once"),
        (admin, {"audio": b"%PDF-1.7 a report"}, "That file is a PDF document, not a recording."),
        (admin, {"audio": b"OggS" + bytes(20 * 1000 * 1000)}, "The audio file is 20.0 MB"),
        (admin, {"audio": _thirty_minutes_of_wav()}, "The recording is longer than 5 minutes"),
        (member, {"text": "Hi"}, "Only members who manage avatars may ask them for videos"),
    ]
    for who, options, message in cases:
        result = await say(fake_discord, who, mia, **options)  # type: ignore[arg-type]
        reply = await reply_until(result, lambda m: bool(m.embeds))
        assert message in (reply.embed.description or ""), (options.keys(), reply.embed.description)
    execute(database, "UPDATE avatars SET status = 'PROCESSING' WHERE guild_id = ?", (guild.id,))
    processing = await (await say(fake_discord, admin, mia, text="Hi")).original()
    assert "Mia cannot speak in videos yet: Runway is still preparing it." in processing.text + (
        processing.embed.description or ""
    )
    execute(
        database,
        "UPDATE avatars SET status = 'READY', review_state = 'REJECTED' WHERE guild_id = ?",
        (guild.id,),
    )
    rejected = await (await say(fake_discord, admin, mia, text="Hi")).original()
    assert "an admin rejected it" in (rejected.embed.description or "")
    execute(
        database, "UPDATE avatars SET review_state = 'APPROVED' WHERE guild_id = ?", (guild.id,)
    )
    assert runway.requests("POST", VIDEOS_ROUTE) == submitted
    assert videos(database, guild.id) == []


@pytest.mark.parametrize(
    ("status", "retry_after", "message"),
    [
        (400, None, "Runway refused the request"),
        (429, 120, "Runway's limit is reached"),
        (500, None, "cannot tell whether the video of Mia was created anyway"),
    ],
)
async def test_runway_refusals_at_submit_release_the_reservation(
    fake_discord: FakeDiscord,
    guild: Guild,
    admin: Member,
    mia: str,
    runway: Sandbox,
    database: Path,
    status: int,
    retry_after: int | None,
    message: str,
) -> None:
    runway.inject("POST", VIDEOS_ROUTE, status=status, retry_after=retry_after)
    asked = await say(fake_discord, admin, mia, text=WELCOME)
    reply = await reply_until(asked, lambda m: bool(m.embeds), patience=30)
    assert message in (reply.embed.description or "")
    row = await video_row(database, guild.id, ended)
    assert row["state"] == "RELEASED"
    assert row["used_seconds"] is None


async def test_a_failed_task_is_told_and_costs_nothing(
    fake_discord: FakeDiscord, guild: Guild, admin: Member, mia: str, database: Path
) -> None:
    asked = await say(fake_discord, admin, mia, text="The sandbox-fail marker flags this script.")
    failed = await reply_until(asked, lambda m: m.text.startswith("❌"))
    assert failed.text == (
        "❌ Runway could not make your video of **Mia** (The provided text was flagged by "
        "content moderation.). Nothing was charged."
    )
    row = await video_row(database, guild.id, ended)
    assert (row["state"], row["end_reason"], row["cost_credits"]) == ("RELEASED", "failed", 0)


async def _second_asker(fake: FakeDiscord, guild: Guild, like: Member) -> Member:
    """Another member with the video role (the first has a video of their own in flight or
    in its cooldown)."""
    role = next(r for r in guild.roles if r.name == "Announcers")
    return fake.create_member(guild, "second", roles=[role])


def message_id(database: Path, guild: Guild) -> int:
    return int(videos(database, guild.id)[-1]["id"])


def _audit(workdir: Path, guild_id: int) -> list[tuple[str, str]]:
    found = rows(
        workdir, "SELECT action, detail FROM audit_log WHERE guild_id = ? ORDER BY id", (guild_id,)
    )
    return [(row["action"], row["detail"]) for row in found]
