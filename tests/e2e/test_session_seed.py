"""/session end to end in the seed dialect: Runway hands the room's credentials over with
the session, has no way to ask about or cancel a session, and so the bot keeps the time
itself, from the member's join to the end the page or /session end reports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from bot.runway.sandbox import Sandbox
from bot.services.conversations import NO_CONVERSATIONS
from tests.e2e.conftest import runway_settings
from tests.e2e.session_steps import (
    PRESET_LABEL,
    SESSIONS_ROUTE,
    Browser,
    end_session,
    only_row,
    run,
    session_rows,
    start_session,
)
from tests.fakediscord import BotProcess, FakeDiscord, Member


@pytest.fixture(scope="module")
def runway_dialect() -> str:
    return "seed"


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


@pytest_asyncio.fixture(loop_scope="module")
async def browser(bot_web_port: int) -> AsyncIterator[Browser]:
    page = Browser(bot_web_port)
    yield page
    await page.aclose()


async def test_the_link_hands_over_the_stored_credentials_once_and_the_pages_end_settles(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    member: Member,
    runway: Sandbox,
    browser: Browser,
    bot_workdir: Path,
) -> None:
    started = await start_session(fake_discord, member)
    assert started.dm is not None
    assert started.dm.embed.title == f"Your call with {PRESET_LABEL}"
    fields = {field.name: field.value for field in started.dm.embed.fields}
    assert fields["Time limit"] == "5 min"  # seed sessions last 300 s at most
    row = only_row(bot_workdir, member)
    assert row.state == "OPEN"
    assert row.seed_credentials is not None
    stored = json.loads(row.seed_credentials)

    assert (await browser.open(started.code)).status_code == 200
    assert (await browser.open(started.code)).status_code == 200
    joined = await browser.join(started.code)

    assert joined.status_code == 200, joined.text
    body = joined.json()
    assert (body["url"], body["token"], body["roomName"]) == (
        stored["url"],
        stored["token"],
        stored["roomName"],
    )
    assert body["url"] == runway.config.livekit_url
    assert body["roomName"] == f"sandbox-{row.runway_id}"
    refused = await browser.join(started.code)
    assert refused.status_code == 404
    assert refused.json()["state"] == "used_elsewhere"
    _, status = await run(fake_discord, "session status", member)
    assert {f.name: f.value for f in status.embed.fields}["State"] == "in the call"

    assert (await browser.report_end(started.code)).status_code == 204

    row = only_row(bot_workdir, member)  # at once: the page's word is all the seed has
    assert (row.state, row.end_reason) == ("SETTLED", "member_ended")
    assert row.used_seconds is not None
    assert row.used_seconds <= 3
    assert row.seed_credentials is None  # not kept once the call is over
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert "you ended the call" in (summary.embed.description or "")
    assert (await browser.report_end(started.code)).status_code == 204
    await asyncio.sleep(0.2)
    assert len(fake_discord.dms(member)) == 2
    assert (await browser.join(started.code)).json()["state"] == "ended"


async def test_end_settles_without_a_cancel_endpoint(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, browser: Browser, bot_workdir: Path
) -> None:
    started = await start_session(fake_discord, member)
    _, waiting = await run(fake_discord, "session status", member)
    assert {f.name: f.value for f in waiting.embed.fields}["State"] == "waiting for you to join"
    assert (await browser.join(started.code)).status_code == 200

    reply = await end_session(fake_discord, member)

    assert f"Ended your call with **{PRESET_LABEL}**" in reply.text
    row = only_row(bot_workdir, member)
    assert (row.state, row.end_reason) == ("SETTLED", "member_ended")
    assert row.used_seconds is not None
    assert row.used_seconds <= 3
    # Only the four operations of the seed description were ever asked for.
    asked = set(runway.traffic()["requests"])
    assert asked <= {f"POST {SESSIONS_ROUTE}", "POST /v1/avatars", "POST /v1/documents"}, asked
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert summary.embed.title == f"Your call with {PRESET_LABEL} has ended"
    _, status = await run(fake_discord, "session status", member)
    assert "You have no live call here" in status.text


async def test_a_runway_fault_at_start_releases_the_reservation(
    fake_discord: FakeDiscord, member: Member, runway: Sandbox, bot_workdir: Path
) -> None:
    runway.inject("POST", SESSIONS_ROUTE, status=500)

    _, reply = await run(fake_discord, "session start", member, avatar="preset:influencer")

    assert reply.embed.description == (
        "Runway is unavailable at the moment; try again in a few minutes. The Runway API this "
        "bot is set up for cannot tell whether your call with Influencer (Runway preset) was "
        "created anyway, so the bot kept nothing (admins see this in `/about`). You can try "
        "again."
    )
    assert only_row(bot_workdir, member).state == "RELEASED"
    assert fake_discord.dms(member) == []
    again = await start_session(fake_discord, member, "preset:influencer")
    assert again.dm is not None
    assert [r.state for r in session_rows(bot_workdir, member)] == ["RELEASED", "OPEN"]
    await end_session(fake_discord, member)


async def test_the_seed_keeps_no_transcripts_or_recordings_and_says_so_plainly(
    fake_discord: FakeDiscord,
    bot: BotProcess,
    member: Member,
    admin: Member,
    browser: Browser,
) -> None:
    _, history = await run(fake_discord, "session history", member)
    assert history.embed.description == NO_CONVERSATIONS
    settings = await (await fake_discord.invoke("calls settings", member=admin)).final()
    assert "keeps no transcripts or recordings of calls" in (settings.embed.description or "")
    lookup = await fake_discord.invoke("calls lookup", member=admin, options={"member": member})
    assert (await lookup.final()).embed.description == NO_CONVERSATIONS

    started = await start_session(fake_discord, member)
    page = (await browser.open(started.code)).text
    assert "Not kept: this bot&#x27;s Runway API keeps no transcripts or recordings" in page
    assert (await browser.join(started.code)).status_code == 200
    await end_session(fake_discord, member)
    summary = await fake_discord.wait_for_dm(member, count=2)
    assert [embed.title for embed in summary.embeds] == [f"Your call with {PRESET_LABEL} has ended"]
    assert summary.buttons == []
