"""A crash in the middle of a call, and a clean stop: the bot's own processes, started and
killed here (so this module does not use the shared `bot` fixture).

A session open when the bot is SIGKILLed must be settled by the next process, exactly
once: the right seconds, one summary DM, nothing counted twice. SIGTERM must stop the bot
within a few seconds even while a join page is waiting on Runway.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from bot.runway.sandbox import Sandbox
from bot.services.leadership import LEASE_SECONDS
from tests.e2e.avatar_steps import settled as settled_reply
from tests.e2e.conftest import runway_settings
from tests.e2e.database import rows, target
from tests.e2e.realbot import start_real_bot
from tests.e2e.session_steps import (
    DB_WAIT_SECONDS,
    PRESET,
    PRESET_LABEL,
    SESSION_ROUTE,
    SESSIONS_ROUTE,
    Browser,
    end_session,
    link_in,
    only_row,
    session_rows,
    settled,
    start_session,
    wait_for_row,
    wait_for_sweep,
)
from tests.fakediscord import FakeDiscord, InteractionResult, Member, Message

# Measured ~4.1 s with a join in flight: aiohttp waits the web server's 2 s shutdown
# timeout for the handler, then up to 2 s more after cancelling it. Idle, ~0.1 s.
STOP_WITHIN_SECONDS = 6.0


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port)


def summaries(fake: FakeDiscord, member: Member) -> list[Message]:
    return [m for m in fake.dms(member) if m.embeds and "has ended" in (m.embeds[0].title or "")]


async def start_while_runway_answers_late(
    fake: FakeDiscord, runway: Sandbox, member: Member, *, latency: float
) -> InteractionResult:
    """/session start, returning once Runway has made the session but before it answers
    (it answers `latency` seconds later)."""
    runway.inject("POST", SESSIONS_ROUTE, latency=latency, before_handler=False)
    created_before = runway.handled("POST", SESSIONS_ROUTE)
    asked = await fake.invoke("session start", member=member, options={"avatar": PRESET})
    deadline = time.monotonic() + 10
    while runway.handled("POST", SESSIONS_ROUTE) == created_before:
        assert time.monotonic() < deadline, "Runway never got the create"
        await asyncio.sleep(0.02)
    return asked


async def test_a_call_open_when_the_bot_is_killed_is_settled_once_after_the_restart(
    fake_discord: FakeDiscord,
    runway: Sandbox,
    bot_settings: Mapping[str, str],
    bot_workdir: Path,
    bot_web_port: int,
) -> None:
    first = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    browser = Browser(bot_web_port)
    try:
        guild = await fake_discord.create_guild("Crash Server")
        member = fake_discord.create_member(guild, "caller")
        started = await start_session(fake_discord, member)
        assert (await browser.join(started.code)).status_code == 200
        row = only_row(bot_workdir, member)
        assert row.state == "OPEN"
        assert row.consumed_at is not None

        first.process.send_signal(signal.SIGKILL)
        assert await first.process.wait() == -signal.SIGKILL
    finally:
        await first.stop()
        await browser.aclose()
    assert row.runway_id is not None
    runway.end_session(row.runway_id, after_seconds=42)  # the call went on, then ended
    assert only_row(bot_workdir, member).state == "OPEN"

    second = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    try:
        # On PostgreSQL the killed process still holds the tracker's lease until it runs out
        # (a cluster cannot tell a crash from a slow peer): within one and a half leases.
        row = await wait_for_row(
            bot_workdir, member, settled, timeout=DB_WAIT_SECONDS + 1.5 * LEASE_SECONDS
        )
        assert (row.state, row.used_seconds, row.end_reason) == ("SETTLED", 42, "completed")
        summary = await fake_discord.wait_for_dm(member, count=2)
        assert "It lasted 42 s" in (summary.embed.description or "")
        fields = {field.name: field.value for field in summary.embed.fields}
        left = fields["Your call time left today"]
        assert left.startswith("14 min 18 s of 15 min; resets <t:")
        assert any("settled: 42 s, completed" in line for line in second.lines)

        # A new call makes the tracker look again: the old one must not count twice.
        gets_before = runway.requests("GET", SESSION_ROUTE)
        await start_session(fake_discord, member)
        await wait_for_sweep(runway, gets_before)
        await end_session(fake_discord, member)
        await fake_discord.wait_for_dm(member, count=4)
        await asyncio.sleep(0.3)
        assert len(summaries(fake_discord, member)) == 2
        last = {f.name: f.value for f in summaries(fake_discord, member)[-1].embed.fields}
        # The second call was never joined: the first still counts once.
        assert last["Your call time left today"].startswith("14 min 18 s of 15 min;")
        calls = session_rows(bot_workdir, member)
        assert [(r.state, r.used_seconds) for r in calls] == [("SETTLED", 42), ("SETTLED", 0)]
        assert len([line for line in second.lines if " settled: " in line]) == 2
    finally:
        code = await second.stop()
    assert code == 0, second.tail()


async def test_a_start_killed_while_runway_creates_is_found_cancelled_and_told_at_restart(
    fake_discord: FakeDiscord,
    runway: Sandbox,
    bot_settings: Mapping[str, str],
    bot_workdir: Path,
) -> None:
    """SIGKILL while Runway has made the session but not yet answered: after the restart the
    reservation is released at once (not after a 120 s sweep), Runway's session is found in
    its conversation list and cancelled, the member is told by DM, and /about shows admins."""
    first = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    try:
        guild = await fake_discord.create_guild("Killed Start Server")
        member = fake_discord.create_member(guild, "caller")
        admin = fake_discord.create_member(guild, "admin", manage_guild=True)
        await start_while_runway_answers_late(fake_discord, runway, member, latency=4.0)
        first.process.send_signal(signal.SIGKILL)
        assert await first.process.wait() == -signal.SIGKILL
    finally:
        await first.stop()
    assert only_row(bot_workdir, member).state == "RESERVED"
    made = [
        session_id
        for session_id, status in runway.inventory()["sessions"].items()
        if status == "NOT_READY"
    ]
    assert len(made) == 1

    began = time.monotonic()
    second = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    try:
        # Released first, then the Runway session it turned out to have is noted (two writes).
        row = await wait_for_row(bot_workdir, member, lambda r: settled(r) and bool(r.runway_id))
        assert time.monotonic() - began < 30  # at start-up, not after the 120 s sweep
        assert (row.state, row.end_reason, row.runway_id) == ("RELEASED", "start_failed", made[0])
        assert runway.inventory()["sessions"][made[0]] == "CANCELLED"
        told = await fake_discord.wait_for_dm(member)
        assert "could not be set up" in (told.embed.description or "")
        assert "costs nothing" in (told.embed.description or "")
        assert any("resolved: session for" in line for line in second.lines)

        about = await fake_discord.invoke("about", member=admin)
        shown = await about.final()
        fields = {field.name: field.value for field in shown.embed.fields}
        assert "1 found and removed" in fields["Runway check (admins)"]
        plain = await (await fake_discord.invoke("about", member=member)).final()
        assert "Runway check (admins)" not in {f.name for f in plain.embed.fields}
    finally:
        code = await second.stop()
    assert code == 0, second.tail()


async def test_a_restart_in_the_middle_of_the_waiting_line_loses_no_ones_place(
    fake_discord: FakeDiscord,
    runway: Sandbox,
    bot_settings: Mapping[str, str],
    bot_workdir: Path,
) -> None:
    """SIGKILL while two members wait for the one slot: after the restart both are told by
    DM that their place is kept, and the slot goes to them in their order."""
    settings = {**bot_settings, "RUNWAY_MAX_LIVE_SESSIONS": str(live_sessions(bot_workdir) + 1)}
    guild = await fake_discord.create_guild("Line Server")
    holder, first_in_line, second_in_line = (
        fake_discord.create_member(guild, name) for name in ("holder", "first", "second")
    )
    before = await start_real_bot(fake_discord, bot_workdir, settings)
    try:
        await start_session(fake_discord, holder)
        for member in (first_in_line, second_in_line):
            asked = await fake_discord.invoke(
                "session start", member=member, options={"avatar": PRESET}
            )
            reply = await settled_reply(fake_discord, asked)
            assert "call slots are busy" in reply.text or "call slot is busy" in reply.text
        before.process.send_signal(signal.SIGKILL)
        assert await before.process.wait() == -signal.SIGKILL
    finally:
        await before.stop()

    after = await start_real_bot(fake_discord, bot_workdir, settings)
    try:
        notices = [
            await fake_discord.wait_for_dm(member, timeout=15)
            for member in (first_in_line, second_in_line)
        ]
        assert [re.search(r"You are #(\d+) in line", n.text)[1] for n in notices] == ["1", "2"]  # type: ignore[index]
        await end_session(fake_discord, holder)
        turn = await fake_discord.wait_for_dm(first_in_line, count=2, timeout=15)
        assert turn.embed.title == f"Your turn: Your call with {PRESET_LABEL}"
        await until_text(fake_discord, notices[1].id, "You are #1 in line")
        await end_session(fake_discord, first_in_line)
        second_turn = await fake_discord.wait_for_dm(second_in_line, count=2, timeout=15)
        assert second_turn.embed.title == f"Your turn: Your call with {PRESET_LABEL}"
        await end_session(fake_discord, second_in_line)
    finally:
        code = await after.stop()
    assert code == 0, after.tail()


async def until_text(fake: FakeDiscord, message_id: int, text: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        message = fake.message(message_id)
        if message is not None and text in message.text:
            return
        assert time.monotonic() < deadline, f"{text!r} never shown"
        await asyncio.sleep(0.05)


def live_sessions(workdir: Path) -> int:
    """Calls still live in the bot's database (earlier tests of this module may leave one)."""
    if isinstance(target(workdir), Path) and not (workdir / "bot.db").exists():
        return 0
    found = rows(workdir, "SELECT count(*) AS n FROM sessions WHERE state IN ('RESERVED', 'OPEN')")
    return int(found[0]["n"])


async def test_sigterm_stops_the_bot_within_seconds_even_mid_join(
    fake_discord: FakeDiscord,
    runway: Sandbox,
    bot_settings: Mapping[str, str],
    bot_workdir: Path,
    bot_web_port: int,
) -> None:
    process = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    browser = Browser(bot_web_port)
    try:
        guild = await fake_discord.create_guild("Stop Server")
        member = fake_discord.create_member(guild, "caller")
        gets_before = runway.requests("GET", SESSION_ROUTE)
        started = await start_session(fake_discord, member)
        await wait_for_sweep(runway, gets_before)
        # Runway is slow to answer, so the join page's request is still waiting on it.
        runway.inject("GET", SESSION_ROUTE, latency=20.0)
        asked = runway.requests("GET", SESSION_ROUTE)
        join = asyncio.create_task(browser.join(started.code))
        deadline = time.monotonic() + 5
        while runway.requests("GET", SESSION_ROUTE) == asked:
            assert time.monotonic() < deadline, "the join never asked Runway"
            await asyncio.sleep(0.02)

        began = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.process.wait(), STOP_WITHIN_SECONDS)
        took = time.monotonic() - began
    finally:
        await process.stop()
        with contextlib.suppress(httpx.HTTPError):
            await join
        await browser.aclose()
    assert code == 0, process.tail()
    assert took < STOP_WITHIN_SECONDS
    assert any("stopping" in line for line in process.lines)
    assert session_rows(bot_workdir, member)[0].state == "OPEN"  # left for the next start


async def test_a_rolling_restart_loses_no_start_in_flight(
    fake_discord: FakeDiscord,
    runway: Sandbox,
    bot_settings: Mapping[str, str],
    bot_workdir: Path,
    bot_web_port: int,
) -> None:
    """SIGTERM while Runway is still answering a /session start: the stopping process
    finishes the start (the member gets the link), releases its shards and exits 0; its
    replacement, started at once on the same shards, serves the call."""
    first = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    try:
        guild = await fake_discord.create_guild("Rolling Server")
        member = fake_discord.create_member(guild, "caller")
        asked = await start_while_runway_answers_late(fake_discord, runway, member, latency=3.0)
        first.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(first.process.wait(), 30)
    finally:
        await first.stop()
    assert code == 0, first.tail()
    assert any("finishing 1 interactions in flight" in line for line in first.lines)
    reply = await settled_reply(fake_discord, asked)
    assert "sent you the join link by DM" in reply.text, reply.text
    _, join_code = link_in(await fake_discord.wait_for_dm(member))
    row = only_row(bot_workdir, member)
    assert row.state == "OPEN"
    assert row.runway_id is not None
    assert runway.inventory()["sessions"][row.runway_id] != "CANCELLED"

    second = await start_real_bot(fake_discord, bot_workdir, bot_settings)
    browser = Browser(bot_web_port)
    try:
        joined = await browser.join(join_code)
        assert joined.status_code == 200, joined.text
        assert only_row(bot_workdir, member).state == "OPEN"
    finally:
        await browser.aclose()
        code = await second.stop()
    assert code == 0, second.tail()
