"""The waiting line end to end: the bot with RUNWAY_MAX_LIVE_SESSIONS=2 against the fake
Discord and a Runway sandbox in this process.

Every path a member meets: a place offered with a Leave button and updated in the same
reply, the turn's link by DM, Runway's own 429, a limit reached while waiting, closed DMs,
a member who left the server, `/session end`, Discord's 15 minutes running out, the admins'
view and Clear; then 2 slots, 3 servers and 30 members asking at once.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from bot.runway.sandbox import Sandbox
from tests.e2e.conftest import runway_settings
from tests.e2e.database import connect, rows
from tests.e2e.session_steps import PRESET, PRESET_LABEL, Browser, link_in, run, start_session
from tests.fakediscord import BotProcess, FakeDiscord, Guild, InteractionResult, Member, Message

SLOTS = 2
PLACE = re.compile(
    r"^All 2 call slots are busy\. You are #(?P<position>\d+) in line, "
    r"about (?P<minutes>\d+) minutes?\.\n"
)
TURN_DM = f"Your turn: Your call with {PRESET_LABEL}"


@pytest.fixture(scope="module")
def bot_settings(runway: Sandbox, bot_web_port: int) -> Mapping[str, str]:
    return runway_settings(runway, bot_web_port) | {"RUNWAY_MAX_LIVE_SESSIONS": str(SLOTS)}


@pytest_asyncio.fixture(loop_scope="module")
async def browser(bot_web_port: int) -> AsyncIterator[Browser]:
    page = Browser(bot_web_port)
    yield page
    await page.aclose()


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def _every_call_ends(fake_discord: FakeDiscord, bot: BotProcess, bot_workdir: Path):  # type: ignore[no-untyped-def]
    """Each test starts with free slots and an empty line, and leaves them so."""
    yield
    with connect(bot_workdir) as books:
        books.fetch_all("DELETE FROM waiting_line")
    for guild_id, member_id in live_calls(bot_workdir):
        guild = fake_discord.state.guilds[guild_id]
        member = guild.members.get(member_id) or fake_discord.create_member(
            guild, user=fake_discord.state.users[member_id]
        )
        await run(fake_discord, "session end", member)
    await until(lambda: not live_calls(bot_workdir), "calls still live after the test")


def live_calls(workdir: Path) -> list[tuple[int, int]]:
    found = rows(
        workdir, "SELECT guild_id, member_id FROM sessions WHERE state IN ('RESERVED', 'OPEN')"
    )
    return [(int(row["guild_id"]), int(row["member_id"])) for row in found]


def waiting(workdir: Path) -> list[tuple[int, int, int]]:
    """(id, guild, member) of everyone in line, by arrival."""
    found = rows(workdir, "SELECT id, guild_id, member_id FROM waiting_line ORDER BY id")
    return [(int(row["id"]), int(row["guild_id"]), int(row["member_id"])) for row in found]


async def until(check: Callable[[], object], what: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def reply_says(result: InteractionResult, text: str, timeout: float = 15.0) -> Message:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        message = await result.original()
        if text in message.text:
            return message
        assert time.monotonic() < deadline, f"{text!r} not in {message.text!r}"
        await asyncio.sleep(0.05)


async def queue(fake: FakeDiscord, member: Member) -> tuple[InteractionResult, Message]:
    """/session start while every slot is busy: the reply offering a place in line."""
    result = await fake.invoke("session start", member=member, options={"avatar": PRESET})
    reply = await reply_says(result, "call slots are busy")
    assert reply.ephemeral
    return result, reply


def turn_dms(fake: FakeDiscord, member: Member) -> list[Message]:
    return [m for m in fake.dms(member) if m.embeds and m.embeds[0].title == TURN_DM]


async def fill_slots(fake: FakeDiscord, guild: Guild) -> list[Member]:
    holders = [fake.create_member(guild, f"holder{n}") for n in range(SLOTS)]
    for holder in holders:
        await start_session(fake, holder)
    return holders


async def test_a_place_in_line_updates_in_its_reply_and_the_turn_comes_by_dm(
    fake_discord: FakeDiscord, guild: Guild, browser: Browser, bot_workdir: Path
) -> None:
    holders = await fill_slots(fake_discord, guild)
    third, fourth = (fake_discord.create_member(guild, name) for name in ("third", "fourth"))
    asked, place = await queue(fake_discord, third)
    found = PLACE.match(place.text)
    assert found is not None, place.text
    assert found["position"] == "1"
    assert "**Cat Character (Runway preset)**" in place.text
    assert "the slot is held for you for 3 min" in place.text
    assert [button.label for button in place.buttons] == ["Leave the line"]
    later, second_place = await queue(fake_discord, fourth)
    assert PLACE.match(second_place.text)["position"] == "2"  # type: ignore[index]

    # Nobody jumps the line, from any server; servers take turns, so another server's first
    # member comes before this server's second.
    elsewhere = fake_discord.create_member(await fake_discord.create_guild("Other"), "eager")
    other_asked, other_place = await queue(fake_discord, elsewhere)
    assert PLACE.match(other_place.text)["position"] == "2"  # type: ignore[index]
    await reply_says(later, "You are #3 in line")  # the same reply, edited
    await run(fake_discord, "session end", holders[0])

    await until(lambda: turn_dms(fake_discord, third), "no turn DM")
    [dm] = turn_dms(fake_discord, third)
    await reply_says(asked, "Your turn came: I sent you the join link for your call with")
    await reply_says(other_asked, "You are #1 in line")
    moved = await reply_says(later, "You are #2 in line")
    assert [button.label for button in moved.buttons] == ["Leave the line"]
    _, code = link_in(dm)
    assert (await browser.join(code)).status_code == 200

    left = await fake_discord.press_button(moved, "Leave the line", member=fourth)
    await left.ack()
    await reply_says(later, "You left the waiting line.")
    assert [m for _, _, m in waiting(bot_workdir)] == [elsewhere.id]
    _, status = await run(fake_discord, "session status", elsewhere)
    assert PLACE.match(status.text)["position"] == "1"  # type: ignore[index]
    assert len(live_calls(bot_workdir)) == SLOTS


async def test_session_end_leaves_the_line_and_a_member_who_cannot_be_reached_loses_the_slot(
    fake_discord: FakeDiscord, guild: Guild, bot_workdir: Path
) -> None:
    holders = await fill_slots(fake_discord, guild)
    quitter, gone, closed, reached = (
        fake_discord.create_member(guild, name) for name in ("quitter", "gone", "closed", "ok")
    )
    for member in (quitter, gone, closed, reached):
        await queue(fake_discord, member)
    _, ended = await run(fake_discord, "session end", quitter)
    assert ended.text == "You left the waiting line."
    del guild.members[gone.id]  # left the server (the bot is not told: no members intent)
    fake_discord.close_dms(closed)
    again = await fake_discord.invoke("session start", member=closed, options={"avatar": PRESET})
    await again.ack()
    again.expire_token()  # and Discord's 15 minutes are over

    for holder in holders:
        await run(fake_discord, "session end", holder)
    await until(lambda: turn_dms(fake_discord, reached), "the next reachable member got nothing")
    assert turn_dms(fake_discord, gone) == []
    assert fake_discord.dms(closed) == []
    served = {m for _, m in live_calls(bot_workdir)}
    assert served == {reached.id}
    assert waiting(bot_workdir) == []


async def test_closed_dms_get_the_link_in_the_reply_while_it_can_change(
    fake_discord: FakeDiscord, guild: Guild, browser: Browser
) -> None:
    holders = await fill_slots(fake_discord, guild)
    shy = fake_discord.create_member(guild, "shy")
    asked, _ = await queue(fake_discord, shy)
    fake_discord.close_dms(shy)
    await run(fake_discord, "session end", holders[0])
    reply = await reply_says(asked, "I could not DM you, so here is the link.")
    _, code = link_in(reply)
    assert (await browser.join(code)).status_code == 200


async def test_a_limit_reached_while_waiting_takes_the_member_out_with_the_reason(
    fake_discord: FakeDiscord, guild: Guild, admin: Member
) -> None:
    holders = await fill_slots(fake_discord, guild)
    member = fake_discord.create_member(guild, "waiting")
    asked, _ = await queue(fake_discord, member)
    await (
        await fake_discord.invoke(
            "quota set", member=admin, options={"limit": "member_day_seconds", "amount": "0"}
        )
    ).final()
    await run(fake_discord, "session end", holders[0])
    await reply_says(
        asked,
        "You are no longer in the waiting line for **Cat Character (Runway preset)**: "
        "Your roles give you no call time in this server.",
    )


async def test_runways_own_429_offers_a_place_that_is_served_when_a_call_ends(
    fake_discord: FakeDiscord, guild: Guild, runway: Sandbox, bot_workdir: Path
) -> None:
    runway.config.max_concurrent_sessions = 1  # Runway's limit is lower than the bot's count
    try:
        first = fake_discord.create_member(guild, "first")
        await start_session(fake_discord, first)
        second = fake_discord.create_member(guild, "second")
        asked, place = await queue(fake_discord, second)
        assert PLACE.match(place.text)["position"] == "1"  # type: ignore[index]
        # The line tries the slot the bot counts as free; Runway says no; the place is kept.
        await until(lambda: [m for _, m in live_calls(bot_workdir)] == [first.id], "a call stayed")
        assert [m for _, _, m in waiting(bot_workdir)] == [second.id]
        await run(fake_discord, "session end", first)
        await until(lambda: turn_dms(fake_discord, second), "the place was never served")
        await reply_says(asked, "Your turn came")
    finally:
        runway.config.max_concurrent_sessions = None


async def test_admins_see_the_line_and_clear_it_and_the_members_are_told(
    fake_discord: FakeDiscord, guild: Guild, admin: Member, bot_workdir: Path
) -> None:
    await fill_slots(fake_discord, guild)
    first, second = (fake_discord.create_member(guild, name) for name in ("a", "b"))
    asked, _ = await queue(fake_discord, first)
    await queue(fake_discord, second)
    result = await fake_discord.invoke("calls line", member=admin)
    shown = await result.original()
    assert "Call slots in use: **2 of 2**" in (shown.embed.description or "")
    listed = {f.name: f.value for f in shown.embed.fields}["This server"]
    assert listed.startswith(f"#1 <@{first.id}> for **Cat Character (Runway preset)**")
    await fake_discord.press_button(shown, "Clear this server's line", member=admin)
    cleared = await reply_says(result, "Cleared: 2 member(s) left the line and were told.")
    await until(lambda: not waiting(bot_workdir), "the line was not cleared")
    await reply_says(
        asked,
        "You are no longer in the waiting line for **Cat Character (Runway preset)**: "
        "An admin of the server cleared its waiting line.",
    )
    assert cleared.ephemeral


async def test_after_discords_15_minutes_the_place_moves_to_a_dm(
    fake_discord: FakeDiscord, guild: Guild
) -> None:
    holders = await fill_slots(fake_discord, guild)
    patient, other = (fake_discord.create_member(guild, name) for name in ("patient", "x"))
    await queue(fake_discord, other)
    asked, _ = await queue(fake_discord, patient)
    asked.expire_token()
    await run(fake_discord, "session end", other)  # leaves the line: the places move

    notice = await fake_discord.wait_for_dm(patient, timeout=20)
    assert PLACE.match(notice.text)["position"] == "1"  # type: ignore[index]
    assert [button.label for button in notice.buttons] == ["Leave the line"]
    await run(fake_discord, "session end", holders[0])
    await until(lambda: turn_dms(fake_discord, patient), "no turn DM")

    def told() -> bool:
        updated = fake_discord.message(notice.id)
        return updated is not None and updated.text.startswith(
            "Your turn came: I sent you the join link"
        )

    await until(told, "the DM with the place was not updated")


async def test_two_slots_three_servers_thirty_members_asking_at_once_are_served_fairly(
    fake_discord: FakeDiscord, bot: BotProcess, bot_workdir: Path, runway: Sandbox
) -> None:
    guilds = [await fake_discord.create_guild(f"Busy {n}", system_channel=False) for n in range(3)]
    members = [fake_discord.create_member(g, f"m{n}") for n in range(10) for g in guilds]
    asked = await asyncio.gather(
        *(
            fake_discord.invoke("session start", member=m, options={"avatar": PRESET})
            for m in members
        )
    )
    replies = await asyncio.gather(*(reply_says(r, "") for r in asked))
    await until(
        lambda: len(waiting(bot_workdir)) + len(live_calls(bot_workdir)) == 30,
        "not everyone got a call or a place",
    )
    line = waiting(bot_workdir)
    direct = {m for _, m in live_calls(bot_workdir)}
    assert len(direct) == SLOTS
    assert len(line) == 30 - SLOTS
    assert all(r.ephemeral for r in replies)
    by_id = {m.id: m for m in members}

    served: list[int] = []
    most_live = 0
    while len(served) < len(line):
        live = live_calls(bot_workdir)
        most_live = max(most_live, len(live), _runway_live(runway))
        for _, member_id in live:
            await run(fake_discord, "session end", by_id[member_id])
        await until(
            lambda: len(live_calls(bot_workdir)) == SLOTS or not waiting(bot_workdir),
            "freed slots were not given",
        )
        served = [m for m in _turn_order(fake_discord, members)]
    most_live = max(most_live, len(live_calls(bot_workdir)), _runway_live(runway))

    assert most_live <= SLOTS  # no slot over the limit, by the bot's count or Runway's
    assert sorted(served) == sorted(m for _, _, m in line)  # everyone in line served once
    assert len(set(served)) == len(served)
    assert not direct & set(served)  # nobody served twice
    assert served == _fair(line)
    assert waiting(bot_workdir) == []  # the line is empty at the end
    for member in members:
        assert len(turn_dms(fake_discord, member)) == (0 if member.id in direct else 1)


def _runway_live(runway: Sandbox) -> int:
    statuses = runway.inventory()["sessions"].values()
    return sum(status in ("NOT_READY", "READY", "RUNNING") for status in statuses)


def _turn_order(fake: FakeDiscord, members: list[Member]) -> list[int]:
    """Members by when their turn's DM came."""
    dms = [(dm.id, member.id) for member in members for dm in turn_dms(fake, member)]
    return [member_id for _, member_id in sorted(dms)]


def _fair(line: list[tuple[int, int, int]]) -> list[int]:
    """The order the issue asks for, worked out here on its own: servers take turns, starting
    with the one whose member came first; within a server, first come first served."""
    queues: dict[int, list[int]] = {}
    for _, guild_id, member_id in sorted(line):
        queues.setdefault(guild_id, []).append(member_id)
    order: list[int] = []
    while any(queues.values()):
        for guild_id in list(queues):
            if queues[guild_id]:
                order.append(queues[guild_id].pop(0))
    return order
