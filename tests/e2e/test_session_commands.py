"""/session end to end in the production dialect: the real bot, the fake Discord, and a
Runway sandbox in this process that the tests end, fail and break on purpose.

Each test has its own server and members, and ends the sessions it starts, so the bot's
tracker (which follows every open session) only ever has the current test's to look at.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image

from bot.runway import catalog
from bot.runway.sandbox import Sandbox
from bot.services.durations import duration_text
from tests.e2e.conftest import runway_settings
from tests.e2e.session_steps import (
    CONSUME_ROUTE,
    PRESET,
    PRESET_LABEL,
    SESSION_ROUTE,
    SESSIONS_ROUTE,
    Browser,
    database_bytes,
    end_session,
    link_dm,
    only_row,
    run,
    session_rows,
    settled,
    start_session,
    wait_for_row,
    wait_for_sweep,
)
from tests.fakediscord import Attachment, BotProcess, FakeDiscord, Member
from tests.fakediscord.messages import SUPPRESS_EMBEDS

INVALID = {"state": "invalid", "message": "This link has already been used or is not valid."}
ENDED = {"state": "ended", "message": "The call this link was made for is already over."}
FAILED = {
    "state": "failed",
    "message": "Runway could not get the call ready, so it was stopped. It costs nothing.",
}


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest_asyncio.fixture(loop_scope="module")
async def browser(bot_web_port: int) -> AsyncIterator[Browser]:
    page = Browser(bot_web_port)
    yield page
    await page.aclose()


def png(size: int = 256) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (40, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


async def create_avatar(fake: FakeDiscord, admin: Member, name: str) -> None:
    """/avatar create with an attached portrait, then its form; returns once it is READY."""
    picture = Attachment("portrait.png", png(), "image/png", width=256, height=256)
    result = await fake.invoke(
        "avatar create",
        member=admin,
        options={"name": name, "voice": catalog.VOICE_PRESETS[0]},
        attachments=[picture],
    )
    submitted = await fake.submit_modal(await result.modal(), {"personality": "You are kind."})
    for _ in range(200):
        reply = await submitted.original()
        if reply.embeds:
            break
        await asyncio.sleep(0.05)
    assert reply.embeds, reply.text
    assert "✅ ready" in reply.text, reply.text


def seconds(text: str) -> int:
    """`4 min 59 s` as 299."""
    found = re.fullmatch(r"(?:(\d+) min)? ?(?:(\d+) s)?", text)
    assert text, "no time given"
    assert found is not None, text
    return int(found[1] or 0) * 60 + int(found[2] or 0)


# Starting, the DM and the link


async def test_autocomplete_offers_this_servers_ready_avatars_then_the_presets_and_starts_one(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    admin: Member,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    await create_avatar(fake_discord, admin, "Mia")

    choices = await fake_discord.autocomplete("session start", "avatar", "", member=member)
    assert choices[0].name == "Mia"
    assert str(choices[0].value).isdigit()
    presets = choices[1:]
    assert [c.value for c in presets] == [f"preset:{p}" for p in catalog.AVATAR_PRESETS]
    assert len(presets) == 9
    assert all(c.name.endswith("(Runway preset)") for c in presets)
    narrowed = await fake_discord.autocomplete("session start", "avatar", "cat", member=member)
    assert [(c.name, c.value) for c in narrowed] == [(PRESET_LABEL, PRESET)]
    other = await fake_discord.create_guild("Elsewhere")
    stranger = fake_discord.create_member(other, "stranger")
    theirs = await fake_discord.autocomplete("session start", "avatar", "", member=stranger)
    assert [c.value for c in theirs] == [f"preset:{p}" for p in catalog.AVATAR_PRESETS]

    started = await start_session(fake_discord, member, str(choices[0].value))
    assert started.dm is not None
    assert started.dm.embed.title == "Your call with Mia"
    assert started.dm.embed.thumbnail.url, "the DM shows the avatar's picture"
    assert "sent you the join link by DM" in started.reply.text
    credentials = await browser.join(started.code)
    assert credentials.status_code == 200
    assert credentials.json()["avatarName"] == "Mia"
    await end_session(fake_discord, member)
    row = only_row(bot_workdir, member)
    assert (row.state, row.end_reason) == ("SETTLED", "member_ended")


async def test_start_defers_ephemerally_and_dms_a_one_time_link_that_is_only_hashed(
    fake_discord: FakeDiscord, member: Member, bot_web_port: int, bot_workdir: Path
) -> None:
    created_before = len(fake_discord.calls("POST", "/users/@me/channels"))
    started = await start_session(fake_discord, member)

    ack = await started.result.ack()
    assert ack.deferred
    assert ack.ephemeral
    assert ack.latency < 3.0
    assert started.reply.ephemeral
    assert f"**{PRESET_LABEL}**" in started.reply.text
    assert started.code not in started.reply.text  # the link goes only to the DM
    assert len(fake_discord.calls("POST", "/users/@me/channels")) == created_before + 1

    dm = started.dm
    assert dm is not None
    assert started.url == f"http://127.0.0.1:{bot_web_port}/join/{started.code}"
    assert len(started.code) >= 32  # 192 bits of URL-safe base64
    # Discord previews links in a message's content, never inside an embed: the link is
    # only in the embed, behind a label, so no preview fetches (or shows) it.
    assert dm.content == ""
    assert not dm.flags & SUPPRESS_EMBEDS  # which would hide the bot's own embed too
    embed = dm.embed
    assert embed.title == f"Your call with {PRESET_LABEL}"
    assert f"[Join the call]({started.url})" in (embed.description or "")
    assert "don't share it" in (embed.description or "")
    assert "works once" in (embed.description or "")
    fields = {field.name: field.value for field in embed.fields}
    assert fields["Time limit"] == "5 min"

    row = only_row(bot_workdir, member)
    assert row.state == "OPEN"
    assert row.runway_id
    assert row.max_seconds == 300
    assert row.join_code_hash == hashlib.sha256(started.code.encode()).digest()
    assert started.code.encode() not in database_bytes(bot_workdir)
    await end_session(fake_discord, member)


async def test_the_link_shows_the_page_without_using_it_and_hands_out_credentials_once(
    fake_discord: FakeDiscord,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    started = await start_session(fake_discord, member)
    consumed_before = runway.handled("POST", CONSUME_ROUTE)

    for _ in range(2):  # a link previewer, then the member
        page = await browser.open(started.code)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert f"Talk to {PRESET_LABEL}" in page.text
        assert f'data-credentials-url="/join/{started.code}/credentials"' in page.text
    assert only_row(bot_workdir, member).code_used_at is None
    assert runway.handled("POST", CONSUME_ROUTE) == consumed_before

    first = await browser.join(started.code, hesitate=0)  # Runway is still warming up
    assert first.status_code == 200, first.text
    body = first.json()
    row = only_row(bot_workdir, member)
    assert body["url"] == runway.config.livekit_url
    assert body["url"] in first.headers["Content-Security-Policy"]  # the page may connect
    assert body["token"]
    assert body["roomName"] == f"sandbox-{row.runway_id}"
    assert body["maxSeconds"] == 300
    assert body["avatarName"] == PRESET_LABEL
    assert runway.handled("POST", CONSUME_ROUTE) == consumed_before + 1
    assert row.code_used_at is not None
    assert row.consumed_at is not None

    again = await browser.join(started.code, hesitate=0)
    assert (again.status_code, again.json()["state"]) == (404, "used_elsewhere")
    assert "/session end" in again.json()["message"]
    unknown = await browser.join("A" * 32, hesitate=0)
    assert (unknown.status_code, unknown.json()) == (404, INVALID)
    used_page = await browser.open(started.code)  # the call is live: its browser may rejoin
    assert used_page.status_code == 200
    assert 'data-in-use="true"' in used_page.text
    unknown_page = await browser.open("B" * 32)
    assert unknown_page.status_code == 404
    assert "already been used or is not valid" in unknown_page.text
    assert runway.handled("POST", CONSUME_ROUTE) == consumed_before + 1
    await end_session(fake_discord, member)
    ended_page = await browser.open(started.code)
    assert "already over" in ended_page.text


async def test_the_browser_that_joined_rejoins_the_same_call_and_no_other_can(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, browser: Browser
) -> None:
    started = await start_session(fake_discord, member)
    consumed_before = runway.handled("POST", CONSUME_ROUTE)
    secret = "k" * 43

    first = await browser.join(started.code, secret=secret)
    rejoined = await browser.join(started.code, secret=secret)
    stranger = await browser.join(started.code, secret="z" * 43)

    assert first.status_code == rejoined.status_code == 200
    assert rejoined.json()["token"] == first.json()["token"]
    assert rejoined.json()["endsAt"] == first.json()["endsAt"]
    assert stranger.json()["state"] == "used_elsewhere"
    assert runway.handled("POST", CONSUME_ROUTE) == consumed_before + 1  # Runway's one consume
    await end_session(fake_discord, member)
    assert (await browser.join(started.code, secret=secret)).json() == ENDED


async def test_minutes_choose_a_shorter_call_and_the_servers_maximum_caps_a_longer_one(
    fake_discord: FakeDiscord, member: Member, browser: Browser, bot_workdir: Path
) -> None:
    short = await start_session(fake_discord, member, minutes=2)
    assert short.dm is not None
    assert {f.name: f.value for f in short.dm.embed.fields}["Time limit"] == "2 min"
    assert only_row(bot_workdir, member).max_seconds == 120
    assert (await browser.join(short.code)).json()["maxSeconds"] == 120
    await end_session(fake_discord, member)

    long = await start_session(fake_discord, member, minutes=20)
    assert long.dm is not None
    assert {f.name: f.value for f in long.dm.embed.fields}["Time limit"] == "5 min"
    assert session_rows(bot_workdir, member)[-1].max_seconds == 300
    await end_session(fake_discord, member)


async def test_a_closed_dm_puts_the_link_in_the_ephemeral_reply_and_says_why(
    fake_discord: FakeDiscord, member: Member, browser: Browser, bot_workdir: Path
) -> None:
    fake_discord.close_dms(member)

    started = await start_session(fake_discord, member)

    assert started.dm is None
    assert fake_discord.dms(member) == []
    assert started.reply.ephemeral
    description = started.reply.embed.description or ""
    assert "could not DM you" in description
    assert "DMs are closed" in description
    assert f"[Join the call]({started.url})" in description
    assert "don't share it" in description
    assert (await browser.join(started.code)).status_code == 200
    await end_session(fake_discord, member)  # the summary DM fails quietly
    assert only_row(bot_workdir, member).state == "SETTLED"
    assert fake_discord.dms(member) == []


# Status, ending, settling


async def test_status_shows_waiting_then_in_the_call_with_the_time_left(
    fake_discord: FakeDiscord, member: Member, browser: Browser
) -> None:
    _, nothing = await run(fake_discord, "session status", member)
    assert nothing.ephemeral
    assert "You have no live call here" in nothing.text

    started = await start_session(fake_discord, member)
    _, waiting = await run(fake_discord, "session status", member)
    fields = {field.name: field.value for field in waiting.embed.fields}
    assert waiting.ephemeral
    assert waiting.embed.title == f"Call with {PRESET_LABEL}"
    assert fields["State"] == "waiting for you to join"
    assert fields["Limit"] == "5 min"
    assert 290 <= seconds(fields["Time left"]) <= 300

    assert (await browser.join(started.code)).status_code == 200
    _, joined = await run(fake_discord, "session status", member)
    fields = {field.name: field.value for field in joined.embed.fields}
    assert fields["State"] == "in the call"
    assert 290 <= seconds(fields["Time left"]) <= 300
    await end_session(fake_discord, member)


async def test_end_cancels_at_runway_settles_at_once_and_dms_a_summary(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, browser: Browser, bot_workdir: Path
) -> None:
    started = await start_session(fake_discord, member)
    assert (await browser.join(started.code)).status_code == 200
    cancelled_before = runway.handled("DELETE", SESSION_ROUTE)

    reply = await end_session(fake_discord, member)

    assert f"Ended your call with **{PRESET_LABEL}** after" in reply.text
    assert runway.handled("DELETE", SESSION_ROUTE) == cancelled_before + 1
    row = only_row(bot_workdir, member)  # settled before the reply, no waiting
    assert (row.state, row.end_reason) == ("SETTLED", "member_ended")
    assert row.used_seconds is not None
    assert row.used_seconds <= 3
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert summary.embed.title == f"Your call with {PRESET_LABEL} has ended"
    assert "you ended the call" in (summary.embed.description or "")
    fields = {field.name: field.value for field in summary.embed.fields}
    left = duration_text(15 * 60 - row.used_seconds)  # the default daily allowance
    assert fields["Your call time left today"].startswith(f"{left} of 15 min; resets <t:")

    _, again = await run(fake_discord, "session end", member)
    assert "You have no live session here." in again.text
    await asyncio.sleep(0.2)
    assert len(fake_discord.dms(member)) == 2


async def test_end_says_so_when_runway_cannot_cancel_and_works_when_tried_again(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, browser: Browser, bot_workdir: Path
) -> None:
    started = await start_session(fake_discord, member)
    assert (await browser.join(started.code)).status_code == 200
    deletes_before = runway.requests("DELETE", SESSION_ROUTE)
    runway.inject("DELETE", SESSION_ROUTE, status=503, retry_after=0, times=4)

    _, failed = await run(fake_discord, "session end", member)

    assert failed.embed.description == (
        "Runway is unavailable at the moment; try again in a few minutes."
    )
    assert runway.requests("DELETE", SESSION_ROUTE) == deletes_before + 4  # retried
    assert only_row(bot_workdir, member).state == "OPEN"  # still live: nothing was lost
    assert len(fake_discord.dms(member)) == 1
    await end_session(fake_discord, member)
    row = only_row(bot_workdir, member)
    assert (row.state, row.end_reason) == ("SETTLED", "member_ended")
    await fake_discord.wait_for_dm(member, count=2)


async def test_the_tracker_settles_a_call_to_the_seconds_runway_reports(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, browser: Browser, bot_workdir: Path
) -> None:
    started = await start_session(fake_discord, member)
    assert (await browser.join(started.code)).status_code == 200
    runway_id = only_row(bot_workdir, member).runway_id
    assert runway_id is not None

    runway.end_session(runway_id, after_seconds=42)

    row = await wait_for_row(bot_workdir, member, settled)
    assert (row.state, row.used_seconds, row.end_reason) == ("SETTLED", 42, "completed")
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert "It lasted 42 s: the call ended." in (summary.embed.description or "")
    fields = {field.name: field.value for field in summary.embed.fields}
    assert fields["Your call time left today"].startswith("14 min 18 s of 15 min; resets <t:")
    _, status = await run(fake_discord, "session status", member)
    assert "You have no live call here" in status.text


async def test_the_pages_end_report_settles_once_runway_has_ended_the_call(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, browser: Browser, bot_workdir: Path
) -> None:
    started = await start_session(fake_discord, member)
    assert (await browser.join(started.code)).status_code == 200
    runway_id = only_row(bot_workdir, member).runway_id
    assert runway_id is not None
    runway.end_session(runway_id, after_seconds=30)

    assert (await browser.report_end(started.code)).status_code == 204

    row = only_row(bot_workdir, member)  # at once, not at the tracker's next look
    assert (row.state, row.used_seconds, row.end_reason) == ("SETTLED", 30, "member_ended")
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert "It lasted 30 s: you ended the call." in (summary.embed.description or "")
    assert (await browser.report_end(started.code)).status_code == 204
    assert (await browser.join(started.code)).json() == ENDED
    await asyncio.sleep(0.2)
    assert len(fake_discord.dms(member)) == 2


async def test_a_call_runway_fails_costs_nothing(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, browser: Browser, bot_workdir: Path
) -> None:
    started = await start_session(fake_discord, member)
    assert (await browser.join(started.code)).status_code == 200
    runway_id = only_row(bot_workdir, member).runway_id
    assert runway_id is not None

    runway.fail_session(runway_id)
    assert (await browser.report_end(started.code, "disconnected")).status_code == 204

    row = only_row(bot_workdir, member)
    assert (row.state, row.used_seconds, row.end_reason) == ("SETTLED", 0, "failed")
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert "It lasted 0 s: Runway reported a failure; it costs nothing." in (
        summary.embed.description or ""
    )


# One live session per member, and Runway's faults


async def test_a_second_start_offers_to_end_the_live_call_and_cancel_keeps_it(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, bot_workdir: Path
) -> None:
    await start_session(fake_discord, member)
    created_before = runway.requests("POST", SESSIONS_ROUTE)

    _, offer = await run(fake_discord, "session start", member, avatar=PRESET)

    assert offer.ephemeral
    assert "Your call with **Cat Character (Runway preset)** is still live" in offer.text
    assert "press Rejoin" in offer.text
    assert [b.label for b in offer.buttons] == ["End it and start the new call", "Cancel"]
    kept = await fake_discord.press_button(offer, "Cancel", member=member)
    await kept.final(timeout=10.0)
    assert runway.requests("POST", SESSIONS_ROUTE) == created_before
    assert len(fake_discord.dms(member)) == 1
    assert [row.state for row in session_rows(bot_workdir, member)] == ["OPEN"]
    await end_session(fake_discord, member)


async def test_the_offer_ends_the_live_call_and_starts_the_new_one(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, bot_workdir: Path
) -> None:
    await start_session(fake_discord, member)
    _, offer = await run(fake_discord, "session start", member, avatar=PRESET)

    await fake_discord.press_button(offer, "End it and start the new call", member=member)

    # The new link, and the first call's summary (from the outbox) before or after it.
    link = await link_dm(fake_discord, member, after=1)
    assert "Join the call" in (link.embed.description or "")
    await fake_discord.wait_for_dm(member, count=3)
    rows = session_rows(bot_workdir, member)
    assert [(row.state, row.end_reason) for row in rows] == [
        ("SETTLED", "member_ended"),
        ("OPEN", None),
    ]
    await end_session(fake_discord, member)


CREATE_FAULTS: dict[str, tuple[dict[str, Any], int, str]] = {
    # fault on POST /v1/realtime_sessions -> requests the bot made, what the member reads
    "500": (
        {"status": 500},
        1,
        "Runway is unavailable at the moment; try again in a few minutes. Runway's own list "
        f"confirms that your call with {PRESET_LABEL} was not created, so nothing was kept or "
        "charged.",
    ),
    "400": (
        {"status": 400},
        1,
        "Runway refused the request: Bad Request (injected by the sandbox).",
    ),
    "429": (
        {"status": 429, "retry_after": 0, "times": 4},
        4,
        "Runway's limit is reached: Too Many Requests (injected by the sandbox).",
    ),
    "dropped": (
        {"drop": True},
        1,
        "The connection to Runway broke off; try again in a moment. Runway's own list "
        f"confirms that your call with {PRESET_LABEL} was not created, so nothing was kept or "
        "charged.",
    ),
}


@pytest.mark.parametrize("fault", CREATE_FAULTS)
async def test_a_runway_fault_at_start_releases_the_reservation(
    fake_discord: FakeDiscord,
    member: Member,
    runway: Sandbox,
    bot_workdir: Path,
    fault: str,
) -> None:
    injected, attempts, words = CREATE_FAULTS[fault]
    requests_before = runway.requests("POST", SESSIONS_ROUTE)
    runway.inject("POST", SESSIONS_ROUTE, **injected)

    result, reply = await run(fake_discord, "session start", member, avatar=PRESET)

    ack = await result.ack()
    assert ack.deferred
    assert ack.ephemeral
    assert reply.ephemeral
    assert reply.embed.title == "That did not work"
    assert reply.embed.description == words
    assert runway.requests("POST", SESSIONS_ROUTE) == requests_before + attempts
    row = only_row(bot_workdir, member)
    assert (row.state, row.end_reason, row.runway_id) == ("RELEASED", "start_failed", None)
    assert fake_discord.dms(member) == []  # no link, and no summary for a start that failed

    started = await start_session(fake_discord, member)
    assert started.dm is not None
    assert [row.state for row in session_rows(bot_workdir, member)] == ["RELEASED", "OPEN"]
    await end_session(fake_discord, member)
    await asyncio.sleep(0.2)
    assert len(fake_discord.dms(member)) == 2  # the link and the summary of the second call


JOIN_FAULTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "consume_500": ("POST", CONSUME_ROUTE, {"status": 500}),
    "consume_dropped": ("POST", CONSUME_ROUTE, {"drop": True}),
    "consume_lost_answer": ("POST", CONSUME_ROUTE, {"drop": True, "before_handler": False}),
    "session_get_503": ("GET", SESSION_ROUTE, {"status": 503, "retry_after": 0, "times": 4}),
}


@pytest.mark.parametrize("fault", JOIN_FAULTS)
async def test_a_runway_fault_when_joining_refuses_the_page_and_costs_nothing(
    fake_discord: FakeDiscord,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
    fault: str,
) -> None:
    method, route, injected = JOIN_FAULTS[fault]
    gets_before = runway.requests("GET", SESSION_ROUTE)
    started = await start_session(fake_discord, member)
    # The tracker looks at a new session at once; let it, so that it takes no injected fault.
    await wait_for_sweep(runway, gets_before)
    cancelled_before = runway.handled("DELETE", SESSION_ROUTE)
    runway.inject(method, route, **injected)

    refused = await browser.join(started.code)

    assert (refused.status_code, refused.json()) == (409, FAILED)
    row = only_row(bot_workdir, member)
    assert (row.state, row.used_seconds, row.end_reason) == ("SETTLED", 0, "never_ready")
    assert runway.handled("DELETE", SESSION_ROUTE) == cancelled_before + 1
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert "It lasted 0 s: the call was never joined or Runway never got ready; it costs " in (
        summary.embed.description or ""
    )
    assert (await browser.join(started.code)).json() == ENDED
    _, status = await run(fake_discord, "session status", member)
    assert "You have no live call here" in status.text

    again = await start_session(fake_discord, member)
    assert (await browser.join(again.code)).status_code == 200
    await end_session(fake_discord, member)
